"""The sign-in throttle's limits, and a sliding window of attempts per address kept in memory.

The web app counts in the database (alliance.services.sign_in_throttle), shared by every worker;
`Throttle` is the same limit for one process, for code that has no database to hand.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field

# Paths where a password is tried; each address gets THROTTLE_ATTEMPTS per THROTTLE_WINDOW_S.
THROTTLED_PATHS = frozenset({"/login", "/tablet/unlock", "/account/password", "/account/totp"})
THROTTLE_ATTEMPTS = 10
THROTTLE_WINDOW_S = 60.0
# Enough for any clinic's users; bounds memory when a scan comes from many sources.
THROTTLE_MAX_ADDRESSES = 10_000


@dataclass
class Throttle:
    """A sliding window of attempts per key (an address); thread-safe, in memory.

    An address is forgotten only once its last attempt is a whole window old, when forgetting it
    changes no answer. While `max_addresses` addresses all tried within the window, a new address
    waits for the first to go idle: wiping a busy address's count instead would let a guesser
    reset its own by trying from enough other addresses.
    """

    attempts: int = THROTTLE_ATTEMPTS
    window_s: float = THROTTLE_WINDOW_S
    clock: Callable[[], float] = time.monotonic
    max_addresses: int = THROTTLE_MAX_ADDRESSES
    # Ordered by each address's last counted attempt, oldest first, so the idle ones lead.
    _seen: OrderedDict[str, deque[float]] = field(default_factory=OrderedDict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        for name, value in (("attempts", self.attempts), ("max_addresses", self.max_addresses)):
            if value < 1:
                raise ValueError(f"{name}: {value} is not allowed; allowed: a whole number from 1")
        if self.window_s <= 0:
            raise ValueError(f"window_s: {self.window_s} is not allowed; allowed: over 0 seconds")

    def hit(self, key: str) -> float | None:
        """Count one attempt; None if allowed, else the seconds until the next is allowed."""
        now = self.clock()
        with self._lock:
            self._forget_idle(now)
            seen = self._seen.get(key)
            if seen is None:
                if len(self._seen) >= self.max_addresses:
                    return self._wait_for_room(now)
                seen = deque()
            while seen and seen[0] <= now - self.window_s:
                seen.popleft()
            if len(seen) >= self.attempts:
                return max(0.0, seen[0] + self.window_s - now)
            seen.append(now)
            # Stored only once it holds an attempt, so every entry has a last one to age by.
            self._seen[key] = seen
            self._seen.move_to_end(key)
            return None

    def tracked(self) -> int:
        """How many addresses are being counted now."""
        with self._lock:
            return len(self._seen)

    def _forget_idle(self, now: float) -> None:
        while self._seen:
            oldest = next(iter(self._seen.values()))
            if oldest[-1] > now - self.window_s:
                return
            self._seen.popitem(last=False)

    def _wait_for_room(self, now: float) -> float:
        oldest = next(iter(self._seen.values()))
        return max(0.0, oldest[-1] + self.window_s - now)
