"""Launch a `vrprobe` command as its own process and SIGKILL it: the fault-injection tests'
one way to start and kill (tests/test_runner.py, tests/test_interruption.py)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"  # this checkout's code, not an installed copy


def vrprobe(*args: str) -> list[str]:
    """The argv of `vrprobe ARGS` run by this interpreter."""
    return [sys.executable, "-m", "vrprobe.cli", *args]


def _env() -> dict[str, str]:
    path = os.environ.get("PYTHONPATH")
    return {**os.environ, "PYTHONPATH": f"{SRC}{os.pathsep}{path}" if path else str(SRC)}


def launch(args: list[str]) -> subprocess.Popen:
    """Start `args` in the background with its output discarded."""
    return subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=_env())


def finish(args: list[str]) -> None:
    """Run `args` to the end; raise if it fails."""
    subprocess.run(args, check=True, capture_output=True, env=_env())


def sigkill(proc: subprocess.Popen) -> bool:
    """SIGKILL `proc` and reap it; True if it was still running when the signal went out."""
    if proc.poll() is not None:
        return False
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    return True


def kill_after(args: list[str], delay: float) -> bool:
    """Start `args` and SIGKILL it after `delay` seconds; True if it was still running then."""
    proc = launch(args)
    try:
        proc.wait(timeout=delay)
        return False
    except subprocess.TimeoutExpired:
        return sigkill(proc)
