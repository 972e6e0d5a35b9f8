"""The C-speed shortcuts for untrusted text give exactly what the per-character rules give."""

from __future__ import annotations

import unicodedata

from hypothesis import example, given
from hypothesis import strategies as st

from trustbot.messages.alerts import strip_controls
from trustbot.services.alerts.ingest import _https
from trustbot.services.fields import no_controls, storable

# Every category, surrogates included, and plenty of the characters the shortcuts single out.
TEXT = st.text(
    st.one_of(
        st.characters(codec=None, exclude_categories=()),
        st.sampled_from("\x00\t\n\r \x7f\x85\u00a0\u00ad\u200b\u200e\u2028\u3000\ud800\udfff\ufeff"),
    )
)


def _refused(value: str) -> bool:
    return any(unicodedata.category(c) in ("Cc", "Cf", "Cs") for c in value)


@given(TEXT)
@example("zero\u200bwidth")
@example("no\u00a0break space")
@example("bell\x07")
def test_no_controls_refuses_exactly_the_refused_categories(value: str) -> None:
    try:
        no_controls(value)
        refused = False
    except ValueError:
        refused = True
    assert refused == _refused(value)


@given(TEXT)
@example("lone \ud800 surrogate")
@example("nul \x00 byte")
@example("é and \udfff")
def test_storable_drops_exactly_nul_and_surrogates(value: str) -> None:
    assert storable(value) == "".join(c for c in value if c != "\x00" and unicodedata.category(c) != "Cs")


@given(TEXT)
@example("line\nbreak\tand\x1b[31m")
@example("bidi\u202eoverride")
def test_strip_controls_keeps_newlines_and_tabs_only(value: str) -> None:
    expected = "".join(c for c in value if c in "\n\t" or unicodedata.category(c) not in ("Cc", "Cf", "Cs"))
    assert strip_controls(value) == expected


@given(TEXT)
def test_an_evidence_url_with_any_space_is_refused(tail: str) -> None:
    value = "https://monitor.example/" + tail
    try:
        _https(value)
        accepted = True
    except ValueError:
        accepted = False
    assert accepted == (not any(c.isspace() for c in value) and not _refused(value))
