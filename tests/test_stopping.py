"""The stopping rule on hand-made curves: stop after two rounds whose gain is surely below the
threshold, continue while it is surely above, undecided otherwise."""

from __future__ import annotations

import pytest

from allabel.select.stopping import (
    CONTINUE,
    STOP,
    UNDECIDED,
    Gain,
    cost_per_point,
    first_stop,
    gain_between,
    verdicts,
)


def g(est: float, half: float) -> Gain:
    return Gain(est, est - half, est + half)


def test_a_saturating_curve_stops_after_two_flat_rounds():
    # +0.10, +0.05 clearly pay; +0.002 and +0.001 clearly do not (upper bounds 0.007, 0.006)
    gains = [None, g(0.10, 0.02), g(0.05, 0.02), g(0.002, 0.005), g(0.001, 0.005)]
    assert verdicts(gains, 0.01) == [UNDECIDED, CONTINUE, CONTINUE, UNDECIDED, STOP]
    assert first_stop(verdicts(gains, 0.01)) == 5


def test_one_flat_round_between_gains_is_not_a_stop():
    gains = [None, g(0.002, 0.005), g(0.06, 0.02), g(0.001, 0.004)]
    assert verdicts(gains) == [UNDECIDED, UNDECIDED, CONTINUE, UNDECIDED]
    assert first_stop(verdicts(gains)) is None


def test_wide_intervals_stay_undecided():
    # the point gains are small but the intervals reach above the threshold: no stop
    gains = [None, g(0.0, 0.05), g(0.004, 0.03), g(-0.01, 0.04)]
    assert verdicts(gains) == [UNDECIDED] * 4


def test_an_unknown_quality_breaks_the_two_round_run():
    gains = [None, g(0.001, 0.002), None, g(0.001, 0.002), g(0.0, 0.002)]
    assert verdicts(gains) == [UNDECIDED, UNDECIDED, UNDECIDED, UNDECIDED, STOP]


@pytest.mark.parametrize("threshold,expected", [(0.01, [UNDECIDED, CONTINUE]),
                                                (0.05, [UNDECIDED, UNDECIDED]),
                                                (0.2, [UNDECIDED, UNDECIDED])])
def test_the_threshold_decides(threshold, expected):
    assert verdicts([None, g(0.04, 0.02)], threshold) == expected


def test_stop_needs_the_upper_bound_strictly_below():
    assert verdicts([g(0.005, 0.005), g(0.005, 0.005)], 0.01) == [UNDECIDED, UNDECIDED]
    assert verdicts([g(0.005, 0.0049), g(0.005, 0.0049)], 0.01) == [UNDECIDED, STOP]


def test_gain_between_independent_estimates_and_cost_per_point():
    gain = gain_between((0.50, 0.47, 0.53), (0.54, 0.50, 0.58))
    assert gain.estimate == pytest.approx(0.04)
    assert gain.high - gain.estimate == pytest.approx((0.03 ** 2 + 0.04 ** 2) ** 0.5)
    assert gain_between(None, (0.5, 0.4, 0.6)) is None
    assert cost_per_point(2000, gain) == pytest.approx(500)  # 4 points for 2000 tokens
    assert cost_per_point(2000, g(-0.01, 0.01)) is None and cost_per_point(None, gain) is None
