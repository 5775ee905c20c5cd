"""Start and stop the stand-in ClinicalTrials.gov server (../shared/tools/ctgov-standin) for benchmarks and tests."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SHARED = Path(os.environ.get("TRIALFINDER_SHARED", HERE.parents[1] / "shared"))
SERVER = SHARED / "tools" / "ctgov-standin" / "server.py"


class StandIn:
    """``with StandIn("--log", path) as url:`` runs the server on a free loopback port."""

    def __init__(self, *args: str):
        if not SERVER.exists():
            raise FileNotFoundError(f"stand-in server not found at {SERVER}")
        self.args = [sys.executable, str(SERVER), "--port", "0", *args]
        self.proc: subprocess.Popen | None = None

    def __enter__(self) -> str:
        self.proc = subprocess.Popen(self.args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        line = self.proc.stdout.readline().strip()
        if not line.startswith("LISTENING "):
            self.proc.kill()
            raise RuntimeError(f"stand-in server did not start: {line!r}")
        return line.split()[1]

    def __exit__(self, *exc_info: object) -> None:
        if self.proc:
            self.proc.terminate()
            self.proc.wait(timeout=10)
