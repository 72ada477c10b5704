"""Counters for `/metrics`, in the Prometheus text exposition format. Owned by the event loop."""

from __future__ import annotations

import bisect
from collections import defaultdict
from dataclasses import dataclass, field

# File-to-feed latency buckets, in seconds: the target is tens of milliseconds.
_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0)


@dataclass
class Metrics:
    updates: int = 0
    rescans: int = 0
    # By status code. A defaultdict rather than a Counter: counting is on every request's path,
    # and a Counter's `+= 1` costs more.
    requests: defaultdict[int, int] = field(default_factory=lambda: defaultdict(int))
    _latency_counts: list[int] = field(default_factory=lambda: [0] * (len(_BUCKETS) + 1))
    _latency_sum: float = 0.0

    def observe_latency(self, latency_seconds: float) -> None:
        self._latency_counts[bisect.bisect_left(_BUCKETS, latency_seconds)] += 1
        self._latency_sum += latency_seconds

    def render(self, *, articles: int, rejected: int) -> str:
        lines = [
            "# HELP feedd_articles Articles currently published.",
            "# TYPE feedd_articles gauge",
            f"feedd_articles {articles}",
            "# HELP feedd_rejected_files Files in the folder that are not published.",
            "# TYPE feedd_rejected_files gauge",
            f"feedd_rejected_files {rejected}",
            "# HELP feedd_updates_total Times a new site was published after a change.",
            "# TYPE feedd_updates_total counter",
            f"feedd_updates_total {self.updates}",
            "# HELP feedd_rescans_total Full rescans of the folder.",
            "# TYPE feedd_rescans_total counter",
            f"feedd_rescans_total {self.rescans}",
            "# HELP feedd_update_latency_seconds From a file change event to the new site served.",
            "# TYPE feedd_update_latency_seconds histogram",
        ]
        cumulative = 0
        for bound, count in zip((*_BUCKETS, float("inf")), self._latency_counts, strict=True):
            cumulative += count
            le = "+Inf" if bound == float("inf") else repr(bound)
            lines.append(f'feedd_update_latency_seconds_bucket{{le="{le}"}} {cumulative}')
        lines += [
            f"feedd_update_latency_seconds_sum {self._latency_sum:.6f}",
            f"feedd_update_latency_seconds_count {cumulative}",
            "# HELP feedd_http_requests_total HTTP requests answered, by status code.",
            "# TYPE feedd_http_requests_total counter",
        ]
        lines += [
            f'feedd_http_requests_total{{status="{status}"}} {count}'
            for status, count in sorted(self.requests.items())
        ]
        return "\n".join(lines) + "\n"
