"""The scim2-tester compliance checker passes against a live `trustbot serve` (`.ci/run` prints every check)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.scim_compliance import against_live_serve, describe, failures


@pytest.mark.slow
async def test_scim2_tester_finds_no_error(tmp_path: Path) -> None:
    results = await against_live_serve(tmp_path)
    assert len(results) > 100  # the checker ran (discovery, CRUD, PATCH of every attribute), not just a probe
    assert [describe(r) for r in failures(results)] == []
