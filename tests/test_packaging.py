"""The installed package must hold every module the source tree has (tests run from the checkout)."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_every_package_is_installed() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(config["packages"])
    on_disk = {".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "trialfinder").rglob("__init__.py")}
    assert on_disk - listed == set(), "add these to [tool.setuptools] packages in pyproject.toml"
    assert "trialfinder.seeds" in listed


def test_package_data_covers_the_seed_files() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    patterns = config["package-data"]["trialfinder.seeds"]
    seeds = ROOT / "seeds"
    files = [p.relative_to(seeds) for p in seeds.rglob("*") if p.is_file() and "__pycache__" not in p.parts]
    uncovered = [str(f) for f in files if not any(f.match(pat) for pat in patterns) and f.name != "__init__.py"]
    assert uncovered == []


def test_the_installed_command_runs_outside_the_checkout(tmp_path: Path) -> None:
    """From another directory Python imports the installed package, not this checkout's source."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    for command in (["match", "--help"], ["shortlist", "--help"], ["cache", "info", "--help"]):
        done = subprocess.run(
            [sys.executable, "-m", "trialfinder.cli", *command], cwd=tmp_path, env=env, capture_output=True, text=True
        )
        assert done.returncode == 0, done.stderr[-2000:]
