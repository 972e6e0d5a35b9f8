"""Field types shared by the ingest models (alerts and usage)."""

from __future__ import annotations

import re
import unicodedata
from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, BeforeValidator

from trustbot.clock import parse_rfc3339

_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$")


# Control and format characters, and lone surrogates (which no database can store as text).
_REFUSED = ("Cc", "Cf", "Cs")


def no_controls(value: str) -> str:
    """Refuse control and format characters, and lone surrogates, in identifiers."""
    # isprintable() runs in C and is False for every Cc, Cf and Cs character (and some others,
    # such as non-ASCII spaces): only a string it rejects needs the per-character look-up.
    if not value.isprintable() and any(unicodedata.category(c) in _REFUSED for c in value):
        raise ValueError("must not contain control characters or unpaired surrogates")
    return value


def rfc3339(value: object) -> datetime:
    """An RFC 3339 timestamp string, as aware UTC between 1970 and 9999; anything else is refused."""
    if not isinstance(value, str) or not _RFC3339.match(value):
        raise ValueError("must be an RFC 3339 timestamp such as 2026-11-02T09:00:00Z")
    try:
        moment = parse_rfc3339(value)
    except (ValueError, OverflowError):
        raise ValueError("must be a real moment between 1970 and 9999") from None
    if not 1970 <= moment.year <= 9998:
        raise ValueError("must be a moment between 1970 and 9998")
    return moment


MAX_JSON_DEPTH = 32  # levels of objects and lists in a producer's `details`


def storable(value: object, depth: int = 0) -> object:
    """A JSON value with every string made storable: NUL and unpaired surrogates dropped, at any depth.

    Objects and lists nested deeper than `MAX_JSON_DEPTH` are refused (ValueError): no evidence
    needs them, and walking them would exhaust Python's recursion limit.
    """
    if isinstance(value, str):
        if "\x00" not in value and _no_surrogates(value):  # the usual case, checked in C
            return value
        return "".join(c for c in value if c != "\x00" and unicodedata.category(c) != "Cs")
    if isinstance(value, dict | list) and depth >= MAX_JSON_DEPTH:
        raise ValueError(f"must be nested at most {MAX_JSON_DEPTH} levels deep")
    if isinstance(value, dict):
        return {str(storable(k)): storable(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list):
        return [storable(v, depth + 1) for v in value]
    return value


def _no_surrogates(value: str) -> bool:
    """True when `value` has no surrogate code point (category Cs), the only ones UTF-8 cannot encode."""
    if value.isascii():
        return True
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


Token = Annotated[str, AfterValidator(no_controls)]
Timestamp = Annotated[datetime, BeforeValidator(rfc3339)]
