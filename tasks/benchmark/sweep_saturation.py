"""Whether one sweep step could be sustained, judged after the fact from its requests.

A server past its capacity queues: each request waits longer than the one before, so TTFT rises
through the step and requests pile up in flight; a short step can still meet the SLO on
average while its latency grows without bound, so such a step does not pass and no higher rate
is tried. A client past ITS capacity sends late (send lag piles up): the step then measures the
client, and the capacity found is only a lower bound for the server.

The quarters are by planned send time. The server's unqueued service time is the median
end-to-end latency of the requests sent while no other was outstanding (the first one always
is): a batching server (vLLM) slows every request under load, so a low percentile of all of
them would move with the load it is meant to measure. Thresholds
(`CapacityConfig.saturation_*`) are generous on purpose: Poisson arrivals queue in bursts even
below capacity, most of all in short steps, and a burst is not saturation. Simulated 3 s steps
on a 4-slot server (300 arrival seeds each) were judged saturated at 0.8x capacity 0 times, at
0.9x 5, at 1.0x 52, at 1.1x 153, at 1.25x 285 and at 1.5x 300 times. Short steps hide slow
growth: the attainment check and the narrowing still bound the answer (see
tests/unit/benchmark/test_sweep_stub.py for the band).
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


def _end_s(r: RequestRecord) -> float | None:
    if not r.success or r.e2el_ms is None:
        return None
    return r.planned_s + (r.send_lag_ms + r.e2el_ms) / 1000.0


def idle_service_ms(ordered: Sequence[RequestRecord]) -> float | None:
    """Median E2EL of the requests (in send order) sent when every earlier one had been answered."""
    latest_end = -math.inf
    idle = []
    for r in ordered:
        sent_s = r.planned_s + r.send_lag_ms / 1000.0
        end = _end_s(r)
        if end is not None:
            if sent_s >= latest_end:
                idle.append(r.e2el_ms)
            latest_end = max(latest_end, end)
    return _median(idle)


def _ttft(r: RequestRecord) -> float:
    """A failed request waited forever, as far as the queue is concerned."""
    return r.ttft_ms if r.success and r.ttft_ms is not None else math.inf


def mean_in_flight(records: Sequence[RequestRecord], t0_s: float, t1_s: float) -> float:
    """Requests in flight on average over [t0_s, t1_s] (s from the step's start): each answered
    request counts for the share of the window it was outstanding. An average over a window, not
    a count at one instant, which a burst of arrivals just before it would inflate."""
    width = t1_s - t0_s
    if width <= 0:
        return 0.0
    busy = 0.0
    for r in records:
        end_s = _end_s(r)
        if end_s is not None:
            busy += max(0.0, min(end_s, t1_s) - max(r.planned_s, t0_s))
    return busy / width


def detect_saturation(records: Sequence[RequestRecord], rate_per_s: float, cap: CapacityConfig) -> Saturation:
    ordered = sorted(records, key=lambda r: r.planned_s)
    q = max(1, len(ordered) // 4)
    first, last = ordered[:q], ordered[-q:]
    lag_last = _median([r.send_lag_ms for r in last]) or 0.0
    ttft_first = _median([_ttft(r) for r in first])
    ttft_last = _median([_ttft(r) for r in last])
    service_ms = idle_service_ms(sorted(ordered, key=lambda r: r.planned_s + r.send_lag_ms / 1000.0))
    in_flight = mean_in_flight(ordered, last[0].planned_s, last[-1].planned_s) if ordered else 0.0
    expected = rate_per_s * (service_ms or 0.0) / 1000.0
    kind, reason = None, None
    if lag_last > cap.saturation_send_lag_ms:
        kind, reason = "client", (f"the client fell behind: median send lag {lag_last:.0f} ms over the last quarter "
                                  f"> {cap.saturation_send_lag_ms:g} ms")
    elif (ttft_first is not None and ttft_last is not None and math.isfinite(ttft_first)
          and service_ms is not None and ttft_last > cap.saturation_ttft_growth * ttft_first
          and ttft_last - ttft_first > max(cap.saturation_ttft_rise_service_times * service_ms,
                                           cap.saturation_min_rise_ms)):
        kind, reason = "server", (f"TTFT grew through the step: median {ttft_first:.0f} ms in the first quarter, "
                                  f"{ttft_last:.0f} ms in the last")
    elif service_ms is not None and in_flight > max(cap.saturation_backlog_factor * expected, expected + 4):
        kind, reason = "server", (f"{in_flight:.1f} requests in flight on average over the last quarter, where a "
                                  f"server keeping up would hold about {expected:.1f}")
    return Saturation(kind=kind, reason=reason, service_time_ms=_finite(service_ms),
                      ttft_first_quarter_ms=_finite(ttft_first),
                      ttft_last_quarter_ms=_finite(ttft_last), in_flight_last_quarter=round(in_flight, 3),
                      in_flight_expected=round(expected, 3), send_lag_last_quarter_ms=round(lag_last, 3))


def _finite(value: float | None) -> float | None:
    return round(value, 3) if value is not None and math.isfinite(value) else None
