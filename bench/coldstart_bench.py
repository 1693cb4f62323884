"""Cold start to the first successful `GET /health`: `python -m atomo serve` and the built `atomo-server`.

Two cases, each the median of N runs (default 5) with every run printed:
- existing: the folder already holds the bundled sample's seeded data file (the usual restart);
- fresh: a new empty folder, so the data file is created and seeded and the admin seeded first.
The server is started with a minimal environment (as `env -i` would), `/health` is polled every 5 ms,
and after the first answer the bench waits one second and reads the idle RSS of the serving
process tree (for a one-file executable: the bootloader plus the Python process it starts) before
stopping it with SIGTERM.

    python bench/coldstart_bench.py [--exe dist/atomo-server] [--runs 5] [--skip-python]

Targets (issue 13): <= 0.8 s to the first /health on an existing data file for the executable, idle
RSS <= 60 MiB. Numbers, not assertions.
"""

from __future__ import annotations

import argparse
import os
import shutil
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
TARGET_SECONDS = 0.8
TARGET_RSS_MIB = 60.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def env(python: bool) -> dict[str, str]:
    """What `env -i` plus the admin password leaves: PATH, HOME and, for `python -m`, the source tree."""
    out = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": os.environ.get("HOME", "/tmp"),
           "ADMIN_PASSWORD": "Bench-admin-42", "ATOMO_NO_PROGRESS": "1"}
    if python:
        out["PYTHONPATH"] = str(ROOT)
    return out


def healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=0.5) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def tree_rss_mib(pid: int) -> float:
    """Resident memory of a process and its descendants, from /proc (Linux)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    total, todo = 0, [pid]
    while todo:
        current = todo.pop()
        todo.extend(children.get(current, []))
        try:
            for line in Path(f"/proc/{current}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total / 1024


def one_run(command: list[str], folder: str, python: bool, timeout: float = 60.0) -> tuple[float, float]:
    port = free_port()
    start = time.perf_counter()
    proc = subprocess.Popen([*command, "--port", str(port)], cwd=folder, env=env(python), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        while time.perf_counter() - start < timeout:
            if healthy(port):
                elapsed = time.perf_counter() - start
                time.sleep(1.0)
                return elapsed, tree_rss_mib(proc.pid)
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


def measure(label: str, command: list[str], runs: int, python: bool) -> tuple[float, float]:
    """The existing-data-file case (the target) and the fresh-folder case, medians of `runs` each."""
    results: dict[str, tuple[float, float]] = {}
    for case in ("existing", "fresh"):
        times, rss = [], []
        with tempfile.TemporaryDirectory(prefix="atomo-coldstart-") as folder:
            if case == "existing":
                one_run(command, folder, python)            # creates and seeds the data file once
            for _ in range(runs):
                if case == "fresh":
                    for item in Path(folder).iterdir():
                        shutil.rmtree(item) if item.is_dir() else item.unlink()
                elapsed, mib = one_run(command, folder, python)
                times.append(elapsed)
                rss.append(mib)
        results[case] = (statistics.median(times), statistics.median(rss))
        print(f"{label:<40} {case:<8} median {results[case][0]:.3f} s  idle RSS {results[case][1]:.1f} MiB"
              "   runs " + " ".join(f"{t:.3f}" for t in times))
    return results["existing"]


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
        measure("python -m atomo serve", [sys.executable, "-m", "atomo", "serve"], args.runs, python=True)
    exes = [Path(e) for e in args.exe] or [ROOT / "dist" / "atomo-server"]
    for exe in exes:
        if exe.is_dir():
            exe = exe / "atomo-server"
        if not exe.is_file():
            print(f"{exe}: not built (run `atomo build`); skipped")
            continue
        bundle = exe.parent if exe.parent.name == "atomo-server" else exe
        seconds, mib = measure(f"{exe} serve", [str(exe), "serve"], args.runs, python=False)
        print(f"{'':<40} size {size(bundle) / 1e6:.1f} MB; existing data file: "
              f"{'meets' if seconds <= TARGET_SECONDS else 'misses'} the {TARGET_SECONDS} s target, "
              f"{'meets' if mib <= TARGET_RSS_MIB else 'misses'} the {TARGET_RSS_MIB:.0f} MiB idle RSS target")


if __name__ == "__main__":
    main()
