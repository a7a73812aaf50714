"""Paths and command-line helpers shared by the test folders."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

#: the repository's root (the checkout)
ROOT = Path(__file__).resolve().parents[1]
#: ``../shared/data`` beside the checkout: test and training data, absent on a user's machine
SHARED_DATA = ROOT.parent / "shared" / "data"


def run_cli(*args: str, timeout: float = 60,
            cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """``run_stream.py ARGS`` in a fresh interpreter, from ``cwd`` (the repository's root)."""
    return subprocess.run([sys.executable, str(ROOT / "run_stream.py"), *args],
                          capture_output=True, text=True, timeout=timeout, cwd=cwd or ROOT)


def assert_clean_error(proc: subprocess.CompletedProcess[str], pattern: str,
                       code: int | None = None) -> None:
    """Non-zero exit, no traceback, the error on one stderr line matching ``pattern``."""
    assert proc.returncode != 0, proc.stderr
    if code is not None:
        assert proc.returncode == code, proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    errors = [line for line in proc.stderr.splitlines() if "error:" in line]
    assert len(errors) == 1, proc.stderr
    assert re.search(pattern, errors[0]), errors[0]


def refused_on_busy_port(main: object, source: Path, out: Path, scheme: str,
                         capsys: object) -> tuple[int, str, int]:
    """Run ``main`` recording ``source`` to ``out`` and serving ``scheme://localhost:PORT/live``
    on a port another socket already listens on; ``(exit code, stderr, port)``."""
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        code = main(["-i", str(source), "-o", str(out), "-o",  # type: ignore[operator]
                     f"{scheme}://localhost:{port}/live", "-q"])
    return code, capsys.readouterr().err, port  # type: ignore[attr-defined]
