"""Backoff and throttling arithmetic, with a fake clock so nothing waits."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from users.sms.retry import TokenBucket, backoff_cap, backoff_delay


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


@given(
    attempt=st.integers(min_value=1, max_value=200),
    base=st.floats(min_value=0.001, max_value=10),
    cap=st.floats(min_value=0.001, max_value=600),
    rand=st.floats(min_value=0, max_value=1),
)
def test_backoff_waits_between_half_the_cap_and_the_cap_and_never_past_the_maximum(
    attempt: int, base: float, cap: float, rand: float
) -> None:
    delay = backoff_delay(attempt=attempt, base_delay=base, max_delay=cap, rand=lambda: rand)
    ceiling = min(cap, base * 2 ** (attempt - 1))
    assert ceiling / 2 <= delay <= ceiling + 1e-9, f"retry {attempt}: {delay} outside [{ceiling / 2}, {ceiling}]"
    assert delay <= cap + 1e-9


def test_backoff_cap_doubles_each_retry_until_the_maximum() -> None:
    caps = [backoff_cap(attempt=n, base_delay=1.0, max_delay=60.0) for n in range(1, 9)]
    assert caps == [1, 2, 4, 8, 16, 32, 60, 60]


def test_backoff_jitter_spreads_retries_that_failed_together() -> None:
    delays = {round(backoff_delay(attempt=4, base_delay=1.0, max_delay=60.0), 6) for _ in range(50)}
    assert len(delays) > 40, "fifty texts that failed together should not retry in lockstep"


def test_backoff_counts_retries_from_one() -> None:
    with pytest.raises(ValueError, match="attempt counts from 1"):
        backoff_cap(attempt=0, base_delay=1.0, max_delay=60.0)


def test_token_bucket_spaces_sends_at_the_configured_rate() -> None:
    clock = FakeClock()
    bucket = TokenBucket(rate=5.0, clock=clock, sleep=clock.sleep)
    for _ in range(11):
        bucket.take()
    assert clock.now == pytest.approx(2.0), "11 sends at 5/s: the first at once, then one every 0.2 s"


def test_token_bucket_does_not_bank_idle_time_beyond_its_capacity() -> None:
    clock = FakeClock()
    bucket = TokenBucket(rate=5.0, capacity=2, clock=clock, sleep=clock.sleep)
    clock.now = 100.0
    for _ in range(4):
        bucket.take()
    assert clock.now == pytest.approx(100.4), "after a long idle only two sends go at once"


def test_token_bucket_pause_holds_every_send() -> None:
    clock = FakeClock()
    bucket = TokenBucket(rate=100.0, clock=clock, sleep=clock.sleep)
    bucket.take()
    bucket.pause(3.0)
    assert bucket.wait_time() == pytest.approx(3.0)
    bucket.take()
    assert clock.now == pytest.approx(3.0)
