"""``/metrics`` of a group (`atomo serve --workers N`): the answering worker's series plus the other workers'.

Each worker answers ``metrics.samples`` on the bus with the samples of its registry (in-memory counters
only: no query). The worker that was scraped adds them up by sample name and labels: counters, histograms
and the gauges of things each process holds (open connections, queue depth, memory, CPU time) are summed.
What describes the shared file or the server as one (``SHARED``: the database ping, WAL size, last position,
jobs now, build) is the scraped worker's own reading, and ``MAXED`` ones take the largest value (a channel
with members on two workers is active on both; the newest start time). A worker that does not answer within
the timeout is left out; ``atomo_workers_scraped`` (1 in each process, so summed) says how many processes
the figures cover.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from prometheus_client.metrics_core import Metric

from atomo.cluster.bus import Bus

KIND = "metrics.samples"
ASK_TIMEOUT = 2.0
SHARED = frozenset({"db_up", "db_ping_duration_seconds", "atomo_build_info", "db_wal_bytes", "events_last_position",
                    "jobs_queued", "jobs_leased", "jobs_dead", "jobs_oldest_queued_seconds", "process_max_fds"})
MAXED = frozenset({"realtime_channels_active", "realtime_sessions_active", "process_start_time_seconds"})
Wire = list[Any]         # [family, documentation, type, [[sample name, labels, value], ...]]


def to_wire(families: Iterable[Metric]) -> list[Wire]:
    return [[f.name, f.documentation, f.type, [[s.name, s.labels, s.value] for s in f.samples]]
            for f in families if f.name not in SHARED]


def merge(local: Iterable[Metric], others: list[list[Wire]]) -> list[Metric]:
    """``local`` families (in their order) with the samples of ``others`` added in."""
    merged: dict[str, tuple[Metric, dict[tuple[str, tuple[tuple[str, str], ...]], float]]] = {}
    for family in local:
        values: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
        for sample in family.samples:
            values[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
        merged[family.name] = (family, values)
    for answer in others:
        for name, doc, type_, samples in answer:
            if name in SHARED:
                continue
            if name not in merged:
                merged[name] = (Metric(name, doc, type_), {})
            values = merged[name][1]
            for sample_name, labels, value in samples:
                key = (sample_name, tuple(sorted(labels.items())))
                seen = values.get(key)
                if seen is None:
                    values[key] = value
                elif name in MAXED:
                    values[key] = max(seen, value)
                else:
                    values[key] = seen + value
    out = []
    for family, values in merged.values():
        fresh = Metric(family.name, family.documentation, family.type)
        for (sample_name, labels), value in values.items():
            fresh.add_sample(sample_name, dict(labels), value)
        out.append(fresh)
    return out


class GroupRegistry:
    """What ``generate_latest`` reads: ``collect()`` of the merged families (made by ``gather`` first)."""

    def __init__(self, families: list[Metric]) -> None:
        self.families = families

    def collect(self) -> Iterator[Metric]:
        return iter(self.families)


def answer_with(bus: Bus, registry: Any) -> None:
    """Let the other workers of the group read ``registry`` (no-op alone: nothing asks)."""
    bus.answer(KIND, lambda _: to_wire(registry.collect()))


async def gather(bus: Bus, registry: Any) -> Any:
    """``registry`` alone, or in a group a ``GroupRegistry`` summing every worker that answered."""
    if not bus.clustered:
        return registry
    others = await bus.ask(KIND, timeout=ASK_TIMEOUT)
    return GroupRegistry(merge(registry.collect(), others))
