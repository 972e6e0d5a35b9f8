"""The repository root on `sys.path`, so a bench run as a script (`.venv/bin/python bench/<name>.py`,
`bench/` first on `sys.path`) can import the test support it shares with the suite (`tests.support`).

Imported for that effect alone, before any `tests.support` import.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(1, str(ROOT))
