"""Field types shared by the ingest models (alerts and usage)."""

from __future__ import annotations

import re
import unicodedata
from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, BeforeValidator

from bot.clock import parse_rfc3339

_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$")


def no_controls(value: str) -> str:
    """Refuse control and format characters in identifiers."""
    if any(unicodedata.category(c) in ("Cc", "Cf") for c in value):
        raise ValueError("must not contain control characters")
    return value


def rfc3339(value: object) -> datetime:
    """An RFC 3339 timestamp string, as aware UTC; anything else is refused."""
    if not isinstance(value, str) or not _RFC3339.match(value):
        raise ValueError("must be an RFC 3339 timestamp such as 2026-11-02T09:00:00Z")
    return parse_rfc3339(value)


Token = Annotated[str, AfterValidator(no_controls)]
Timestamp = Annotated[datetime, BeforeValidator(rfc3339)]
