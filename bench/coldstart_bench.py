"""Cold start to the first successful `GET /health`: `python -m atomo serve` and the built `atomo-server`.

Each run starts the server in a new empty folder (so the bundled sample is served, its data file
created and seeded, the admin seeded), polls `/health` every 5 ms, and stops the server with
SIGTERM. Prints the median of N runs (default 5), every run, and the executable's size.

    python bench/coldstart_bench.py [--exe dist/atomo-server] [--runs 5] [--skip-python]

Target: <= 1.5 s for the executable. Numbers, not assertions.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
_DROPPED = ("ATOMO_", "ADMIN_", "JWT_", "DATABASE_")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def env() -> dict[str, str]:
    out = {k: v for k, v in os.environ.items() if not k.startswith(_DROPPED) and k not in ("HOST", "PORT")}
    out.update({"ADMIN_PASSWORD": "Bench-admin-42", "PYTHONPATH": str(ROOT), "ATOMO_NO_PROGRESS": "1"})
    return out


def healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=0.5) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def one_run(command: list[str], timeout: float = 60.0) -> float:
    with tempfile.TemporaryDirectory(prefix="atomo-coldstart-") as folder:
        port = free_port()
        start = time.perf_counter()
        proc = subprocess.Popen([*command, "--port", str(port)], cwd=folder, env=env(), stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        try:
            while time.perf_counter() - start < timeout:
                if healthy(port):
                    return time.perf_counter() - start
                if proc.poll() is not None:
                    raise RuntimeError(f"{command[0]} exited with {proc.returncode}")
                time.sleep(0.005)
            raise RuntimeError(f"no /health within {timeout} s")
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def measure(label: str, command: list[str], runs: int) -> float:
    times = [one_run(command) for _ in range(runs)]
    median = statistics.median(times)
    print(f"{label:<34} median {median:.3f} s   runs " + " ".join(f"{t:.3f}" for t in times))
    return median


def size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--exe", action="append", default=[],
                        help="executable(s) to measure (default dist/atomo-server)")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--skip-python", action="store_true")
    args = parser.parse_args()
    if not args.skip_python:
        measure("python -m atomo serve", [sys.executable, "-m", "atomo", "serve"], args.runs)
    exes = [Path(e) for e in args.exe] or [ROOT / "dist" / "atomo-server"]
    for exe in exes:
        if exe.is_dir():
            exe = exe / "atomo-server"
        if not exe.is_file():
            print(f"{exe}: not built (run `atomo build`); skipped")
            continue
        bundle = exe.parent if exe.parent.name == "atomo-server" else exe
        median = measure(f"{exe} serve", [str(exe), "serve"], args.runs)
        verdict = "meets" if median <= 1.5 else "misses"
        print(f"{'':<34} size {size(bundle) / 1e6:.1f} MB; {verdict} the 1.5 s target")


if __name__ == "__main__":
    main()
