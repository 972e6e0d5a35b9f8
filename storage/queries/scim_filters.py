"""A parsed SCIM filter as a SQL condition over the org's users or groups.

Attributes SCIM compares case-insensitively (`userName`, `displayName`, emails) are matched against the
lower-cased columns, so `co`/`sw`/`ew` behave alike on SQLite and PostgreSQL (whose LIKE is case-sensitive);
`emails.value` becomes an `EXISTS` over `scim_address`. Anything the SQL cannot express is `BadFilter`,
never a condition that silently matches everything.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from scim2_models.path.expressions import Comparison, FilterNode, LogicalExpr, Not, Present
from scim2_models.path.visitor import FilterVisitor
from sqlalchemy import ColumnElement, and_, exists, false, not_, or_, select
from sqlmodel import col

from trustbot.storage.tables.identity import ScimAddress, ScimGroup, ScimUser

MAX_FILTER_TERMS = 20


class BadFilter(ValueError):
    """A filter this service provider cannot answer (unknown attribute, operator, too many terms…)."""


_USER_COLUMNS: dict[str, Any] = {
    "username": col(ScimUser.user_name_lc),
    "externalid": col(ScimUser.external_id),
    "displayname": col(ScimUser.display_name_lc),
    "id": col(ScimUser.scim_id),
}
_GROUP_COLUMNS: dict[str, Any] = {
    "displayname": col(ScimGroup.display_name_lc),
    "externalid": col(ScimGroup.external_id),
    "id": col(ScimGroup.scim_id),
}
_LOWERED = {"username", "displayname", "emails.value", "emails"}


class _SqlVisitor(FilterVisitor[ColumnElement[bool]]):
    def __init__(self, columns: dict[str, Any], *, users: bool) -> None:
        self.columns, self.users, self.terms = columns, users, 0

    def _column(self, node: Comparison | Present) -> tuple[str, Any]:
        path = node.attr_path
        name = (path.attr + (f".{path.sub_attr}" if path.sub_attr else "")).lower()
        if self.users and name in ("emails.value", "emails"):
            return name, None
        if name not in self.columns:
            raise BadFilter(f"cannot filter on {path}")
        return name, self.columns[name]

    def visit_comparison(self, node: Comparison) -> ColumnElement[bool]:
        self.terms += 1
        if self.terms > MAX_FILTER_TERMS:
            raise BadFilter("filter has too many terms")
        name, column = self._column(node)
        value = node.value
        if not isinstance(value, str):
            raise BadFilter(f"{node.attr_path} compares with a string")
        if name in _LOWERED:
            value = value.lower()
        if column is None:
            return exists(
                select(col(ScimAddress.user_id)).where(
                    col(ScimAddress.user_id) == col(ScimUser.id), _op(col(ScimAddress.email), node.op.value, value)
                )
            )
        return _op(column, node.op.value, value)

    def visit_present(self, node: Present) -> ColumnElement[bool]:
        name, column = self._column(node)
        if column is None:
            return exists(select(col(ScimAddress.user_id)).where(col(ScimAddress.user_id) == col(ScimUser.id)))
        present: ColumnElement[bool] = column.is_not(None)
        return present

    def visit_not(self, node: Not) -> ColumnElement[bool]:
        return not_(self.visit(node.expr))

    def visit_logical_expr(self, node: LogicalExpr) -> ColumnElement[bool]:
        parts = [self.visit(t) for t in node.terms]
        return and_(*parts) if node.op.value == "and" else or_(*parts)

    def visit_value_path(self, node: Any) -> ColumnElement[bool]:  # noqa: ARG002
        raise BadFilter("value paths are not supported in filters")


def _op(column: Any, op: str, value: str) -> ColumnElement[bool]:
    ops: dict[str, Callable[[], ColumnElement[bool]]] = {
        "eq": lambda: column == value,
        "ne": lambda: column != value,
        "co": lambda: column.contains(value, autoescape=True),
        "sw": lambda: column.startswith(value, autoescape=True),
        "ew": lambda: column.endswith(value, autoescape=True),
    }
    if op in ops:
        return ops[op]()
    raise BadFilter(f"operator {op} is not supported here")


def where_of(ast: FilterNode, *, users: bool) -> ColumnElement[bool]:
    """The condition a parsed filter sets on users (or groups); `BadFilter` when it cannot be expressed."""
    where = _SqlVisitor(_USER_COLUMNS if users else _GROUP_COLUMNS, users=users).visit(ast)
    return where if where is not None else false()
