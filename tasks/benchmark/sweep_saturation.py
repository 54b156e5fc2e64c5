"""Whether one sweep step could be sustained, judged after the fact from its requests.

A server past its capacity queues: each request waits longer than the one before, so TTFT rises
through the step and requests pile up in flight; a short step can still meet the SLO on
average while its latency grows without bound, so such a step does not pass and no higher rate
is tried. A client past ITS capacity sends late (send lag piles up): the step then measures the
client, and the capacity found is only a lower bound for the server.

The quarters are by planned send time; the first quarter is the server's unqueued baseline.
Thresholds (`CapacityConfig.saturation_*`) are generous on purpose: a server just below
capacity queues too, in bursts, and must not be called saturated for it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from configs.capacity import CapacityConfig
from tasks.benchmark.results import RequestRecord
from tasks.benchmark.sweep_result import Saturation


def _median(values: Sequence[float]) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def _ttft(r: RequestRecord) -> float:
    """A failed request waited forever, as far as the queue is concerned."""
    return r.ttft_ms if r.success and r.ttft_ms is not None else math.inf


def in_flight_at(records: Sequence[RequestRecord], t_s: float) -> int:
    """Requests sent at or before `t_s` (s from the step's start) still unanswered then."""
    count = 0
    for r in records:
        if r.success and r.e2el_ms is not None and r.planned_s <= t_s:
            end_s = r.planned_s + (r.send_lag_ms + r.e2el_ms) / 1000.0
            count += end_s > t_s
    return count


def detect_saturation(records: Sequence[RequestRecord], rate_per_s: float, cap: CapacityConfig) -> Saturation:
    ordered = sorted(records, key=lambda r: r.planned_s)
    q = max(1, len(ordered) // 4)
    first, last = ordered[:q], ordered[-q:]
    lag_last = _median([r.send_lag_ms for r in last]) or 0.0
    ttft_first = _median([_ttft(r) for r in first])
    ttft_last = _median([_ttft(r) for r in last])
    e2el_first = _median([r.e2el_ms for r in first if r.success and r.e2el_ms is not None])
    end_s = ordered[-1].planned_s if ordered else 0.0
    in_flight = in_flight_at(ordered, end_s)
    expected = rate_per_s * (e2el_first or 0.0) / 1000.0
    kind, reason = None, None
    if lag_last > cap.saturation_send_lag_ms:
        kind, reason = "client", (f"the client fell behind: median send lag {lag_last:.0f} ms over the last quarter "
                                  f"> {cap.saturation_send_lag_ms:g} ms")
    elif (ttft_first is not None and ttft_last is not None and e2el_first is not None and math.isfinite(ttft_first)
          and ttft_last > cap.saturation_ttft_growth * ttft_first and ttft_last - ttft_first > e2el_first):
        kind, reason = "server", (f"TTFT grew through the step: median {ttft_first:.0f} ms in the first quarter, "
                                  f"{ttft_last:.0f} ms in the last")
    elif e2el_first is not None and in_flight > max(cap.saturation_backlog_factor * expected, expected + 4):
        kind, reason = "server", (f"{in_flight} requests in flight at the last send, where a server keeping up "
                                  f"would hold about {expected:.1f}")
    return Saturation(kind=kind, reason=reason, ttft_first_quarter_ms=_finite(ttft_first),
                      ttft_last_quarter_ms=_finite(ttft_last), in_flight_at_end=in_flight,
                      in_flight_expected=round(expected, 3), send_lag_last_quarter_ms=round(lag_last, 3))


def _finite(value: float | None) -> float | None:
    return round(value, 3) if value is not None and math.isfinite(value) else None
