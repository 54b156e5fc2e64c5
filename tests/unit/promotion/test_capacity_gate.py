"""The head-to-head gate's capacity check: the candidate keeps `min_capacity_ratio` of the
champion's capacity at the SLO, both swept on the same server."""

from __future__ import annotations

import pytest

from configs.promotion import PromotionConfig
from tasks.promotion.gate import capacity_check


def _swept(rate: float | None, bound: str = "bracketed") -> dict:
    return {"max_rate_meeting_slo": rate, "bound": bound if rate is not None else "none"}


@pytest.mark.parametrize(("candidate", "champion", "passed"), [
    (_swept(9.5), _swept(10.0), True),            # within 0.9
    (_swept(8.0), _swept(10.0), False),           # below 0.9 x 10
    (_swept(None), _swept(10.0), False),          # met the SLO at no rate, the champion did
    (_swept(3.0), _swept(None), True),            # the champion sets no floor
    (_swept(32.0, "lower_bound"), _swept(32.0, "lower_bound"), True),
])
def test_capacity_check(candidate: dict, champion: dict, passed: bool) -> None:
    check = capacity_check(candidate, champion, 0.9)
    assert check.name == "capacity" and check.passed is passed and check.reason.startswith("capacity")


def test_the_margin_is_a_share_of_the_champions_capacity() -> None:
    assert PromotionConfig().min_capacity_ratio is None      # recorded, not checked, unless asked
    with pytest.raises(ValueError):
        PromotionConfig(min_capacity_ratio=1.5)
    check = capacity_check(_swept(5.0), _swept(10.0), 0.5)
    assert check.passed and check.threshold == 5.0 and "0.5 x champion 10 req/s" in check.reason
