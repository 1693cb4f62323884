"""Small helpers shared by the HTTP benchmark peers: ports, process stats from /proc, health
polling, the deterministic prefill data and a bounded-concurrency request runner."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator
from pathlib import Path

import httpx

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")

# ~10% of the prefilled last names start with "L", so `lastName startsWith "L"` matches ~200 of 2,000.
LAST_NAMES = ["Adams", "Baker", "Carter", "Diaz", "Evans", "Fischer", "Garcia", "Hughes", "Ito", "Jensen",
              "Kowalski", "Lambert", "Lopez", "Martin", "Nakamura", "Olsen", "Patel", "Quinn", "Rossi",
              "Schmidt"]
FIRST_NAMES = ["Ada", "Ben", "Chloe", "Dev", "Elena", "Farid", "Grace", "Hugo", "Iris", "Jon", "Kira", "Liam"]


def contact_rows(count: int) -> Iterator[dict[str, object]]:
    """The same ``count`` contacts for every server: unique e-mails, a few optional fields."""
    for i in range(count):
        row: dict[str, object] = {
            "firstName": FIRST_NAMES[i % len(FIRST_NAMES)],
            "lastName": LAST_NAMES[(i * 7) % len(LAST_NAMES)],
            "email": f"prefill-{i}@example.com",
        }
        if i % 3 == 0:
            row["phone"] = f"+1 555 {i:04d}"
        if i % 4 == 0:
            row["tags"] = ["prefill", "vip" if i % 8 == 0 else "lead"]
        yield row


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_health(url: str, proc: subprocess.Popen[bytes], started: float, timeout: float = 60.0) -> float:
    """Poll ``url`` every 5 ms until it answers 200; seconds since ``started`` (a perf_counter)."""
    with httpx.Client(timeout=1.0) as client:
        while time.perf_counter() - started < timeout:
            if proc.poll() is not None:
                raise RuntimeError(f"server exited with {proc.returncode} before {url} answered")
            try:
                if client.get(url).status_code == 200:
                    return time.perf_counter() - started
            except httpx.TransportError:
                pass
            time.sleep(0.005)
    raise RuntimeError(f"{url} did not answer within {timeout:.0f}s")


def _tree(pid: int) -> list[int]:
    """``pid`` and its descendants (servers may fork workers)."""
    pids = [pid]
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return pids
    for child in children:
        pids.extend(_tree(int(child)))
    return pids


def _status_kb(pid: int, key: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def rss_mb(pid: int) -> float:
    """Resident set size of the process tree, MiB."""
    return sum(_status_kb(p, "VmRSS") for p in _tree(pid)) / 1024


def peak_rss_mb(pid: int) -> float:
    """High-water mark of the resident set (VmHWM) of the process tree, MiB."""
    return sum(_status_kb(p, "VmHWM") for p in _tree(pid)) / 1024


def cpu_s(pid: int) -> float:
    """user+system CPU seconds of the process tree so far."""
    total = 0
    for p in _tree(pid):
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
    return total / CLOCK_TICKS


def machine_cpu_s() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot, summed over cores (/proc/stat)."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    total = sum(values[:8])       # without guest columns (already counted in user/nice)
    return (total - idle) / CLOCK_TICKS, total / CLOCK_TICKS


def loadavg() -> list[float]:
    return [float(x) for x in Path("/proc/loadavg").read_text().split()[:3]]


async def run_bounded(calls: Iterable[Callable[[], Awaitable[None]]], concurrency: int) -> None:
    """Await every call with at most ``concurrency`` in flight."""
    queue = list(calls)
    queue.reverse()

    async def worker() -> None:
        while queue:
            await queue.pop()()

    await asyncio.gather(*(worker() for _ in range(concurrency)))

