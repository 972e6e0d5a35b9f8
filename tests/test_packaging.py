"""The built wheel is the product and nothing else: one top-level package, no test rig, no dev-only import.

The wheel is built without network (the dev extra brings setuptools) and installed into a fresh
virtual environment with `--no-deps`; that environment borrows the runtime dependencies from this
one's site-packages but cannot import any package of the dev extra, so `trustbot demo` shows the
product runs from the wheel alone. (`.ci/run` also installs the wheel with its dependencies from
the package index into an empty environment.)
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# Top-level import names of the dev extra (and what they pull in), which the product must never need.
DEV_ONLY = (
    "pytest",
    "_pytest",
    "pytest_asyncio",
    "pytest_timeout",
    "xdist",
    "hypothesis",
    "mypy",
    "ruff",
    "setuptools",
)
TEST_RIG = re.compile(r"drill|fuzz|inspection|conftest|/tests?/")

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel `pip wheel .` builds from this checkout."""
    out = tmp_path_factory.mktemp("wheel")
    # From a copy: a build in the checkout would reuse its `build/lib`, where a deleted module lives on.
    source = out / "source"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(".git", ".venv", "build", "*.egg-info", "__pycache__"))
    build = ["pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation", "-w", str(out), str(source)]
    subprocess.run([sys.executable, "-m", *build], check=True, capture_output=True)
    [built] = out.glob("trustbot-*.whl")
    return built


def test_the_wheel_holds_one_top_level_package_and_no_test_rig(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    tops = {name.split("/")[0] for name in names if not name.split("/")[0].endswith(".dist-info")}
    assert tops == {"trustbot"}
    assert [name for name in names if TEST_RIG.search(name)] == []
    sources = {name: zipfile.ZipFile(wheel).read(name).decode() for name in names if name.endswith(".py")}
    dev_imports = re.compile(rf"^\s*(?:from|import)\s+({'|'.join(DEV_ONLY)})\b", re.M)
    assert {name: dev_imports.findall(text) for name, text in sources.items() if dev_imports.search(text)} == {}
    assert [name for name, text in sources.items() if "DROP SCHEMA" in text] == []
    # What the package needs at run time ships inside it: migrations and the dashboard.
    assert "trustbot/storage/migrations/env.py" in names
    assert "trustbot/ops/grafana-dashboard.json" in names


_BLOCK_DEV_ONLY = f"""
import importlib.abc, sys
class _DevOnly(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {DEV_ONLY!r}:
            raise ImportError(f"{{name}} is in the dev extra, not a dependency of the product")
        return None
sys.meta_path.insert(0, _DevOnly())
import trustbot
assert "/site-packages/trustbot/" in trustbot.__file__.replace("\\\\", "/"), trustbot.__file__
from trustbot.cli.main import main
sys.exit(main(["demo"]))
"""


def test_the_demo_runs_from_the_installed_wheel_without_the_dev_extra(wheel: Path, tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    purelib = Path(
        subprocess.check_output(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], text=True
        ).strip()
    )
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(purelib), str(wheel)],
        check=True,
        capture_output=True,
    )
    # The runtime dependencies come from this environment (no network); the path is appended, so
    # the wheel's own `trustbot` wins over this checkout's editable one.
    (purelib / "borrowed-dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    demo = subprocess.run(
        [str(python), "-c", _BLOCK_DEV_ONLY], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert demo.returncode == 0, demo.stderr[-3000:]
    assert "approved" in demo.stdout.lower()
    assert "[acme's workspace]" in demo.stdout and "[provider's workspace]" in demo.stdout
