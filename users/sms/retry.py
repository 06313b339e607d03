"""Pacing for outgoing texts: exponential backoff with jitter, and a token bucket.

Both are plain objects with an injectable clock, so their arithmetic is tested
without waiting and the task uses them with the real clock.
"""

import random
import time
from collections.abc import Callable


def backoff_cap(*, attempt: int, base_delay: float, max_delay: float) -> float:
    """The longest wait before retry number `attempt` (1 = the first retry): base · 2^(attempt-1), capped."""
    if attempt < 1:
        raise ValueError(f"attempt counts from 1, got {attempt}")
    # min() before the power would be wrong; the exponent is bounded instead so a
    # large SMS_MAX_RETRIES cannot overflow a float.
    return min(max_delay, base_delay * 2 ** min(attempt - 1, 62))


def backoff_delay(
    *, attempt: int, base_delay: float, max_delay: float, rand: Callable[[], float] = random.random
) -> float:
    """Seconds to wait before retry number `attempt`: "equal jitter", between half the cap and the cap.

    Full jitter (0..cap) can retry a 429 at once; half a cap is always waited, and the
    random half keeps the many texts that failed together from retrying in lockstep.
    """
    cap = backoff_cap(attempt=attempt, base_delay=base_delay, max_delay=max_delay)
    return cap / 2 + rand() * cap / 2


class TokenBucket:
    """At most `rate` sends a second on average, with bursts of at most `capacity`.

    One bucket per task run: Twilio's limit is per sending number, and a run is the
    only thing sending for an import, so no shared state is needed.
    """

    def __init__(
        self,
        *,
        rate: float,
        capacity: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if rate <= 0:
            raise ValueError(f"rate must be positive, got {rate}")
        self.rate = rate
        self.capacity = max(1.0, capacity)
        self._clock = clock
        self._sleep = sleep
        self._tokens = self.capacity
        self._updated = clock()
        self._paused_until = float("-inf")

    def _refill(self) -> None:
        now = self._clock()
        self._tokens = min(self.capacity, self._tokens + (now - self._updated) * self.rate)
        self._updated = now

    def wait_time(self) -> float:
        """Seconds until a token is available (0 if one is available now)."""
        self._refill()
        paused = max(0.0, self._paused_until - self._clock())
        return max(paused, 0.0 if self._tokens >= 1 else (1 - self._tokens) / self.rate)

    def pause(self, seconds: float) -> None:
        """Hand out no token for `seconds`: the provider asked us to slow down (429) or is failing."""
        self._paused_until = max(self._paused_until, self._clock() + seconds)

    def take(self) -> float:
        """Wait for a token and spend it; returns the seconds waited."""
        # One sleep, not a loop until a whole token shows: float rounding could leave
        # 0.9999999999 tokens and a loop sleeping ever-smaller slivers. The balance may
        # dip a hair below zero instead, which the next refill absorbs.
        wait = self.wait_time()
        if wait > 0:
            self._sleep(wait)
            self._refill()
        self._tokens -= 1
        return wait
