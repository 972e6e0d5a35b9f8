"""The key of a row the database numbers, readable only once the row has one."""

from __future__ import annotations

from typing import Protocol


class UnsavedRow(RuntimeError):
    """A row's key was read before the database assigned it: a bug in the caller, never a person's mistake."""


class _Numbered(Protocol):
    id: int | None


class Keyed:
    """Mixin for tables whose integer `id` the database assigns when the row is flushed."""

    @property
    def pk(self: _Numbered) -> int:
        """The row's `id`; `UnsavedRow` when it was never flushed, so nothing ever looks up a row 0 instead."""
        if self.id is None:
            raise UnsavedRow(f"this {type(self).__name__} has no id yet: it was never flushed")
        return self.id
