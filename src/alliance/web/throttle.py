"""The sign-in throttle: a sliding window of password attempts per address, in memory."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

# Paths where a password is tried; each address gets THROTTLE_ATTEMPTS per THROTTLE_WINDOW_S.
THROTTLED_PATHS = frozenset({"/login", "/tablet/unlock", "/account/password", "/account/totp"})
THROTTLE_ATTEMPTS = 10
THROTTLE_WINDOW_S = 60.0


@dataclass
class Throttle:
    """A sliding window of attempts per key (an address); thread-safe, in memory."""

    attempts: int = THROTTLE_ATTEMPTS
    window_s: float = THROTTLE_WINDOW_S
    clock: Callable[[], float] = time.monotonic
    _seen: dict[str, deque[float]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def hit(self, key: str) -> float | None:
        """Count one attempt; None if allowed, else the seconds until the next is allowed."""
        now = self.clock()
        with self._lock:
            seen = self._seen.setdefault(key, deque())
            while seen and seen[0] <= now - self.window_s:
                seen.popleft()
            if len(seen) >= self.attempts:
                return max(0.0, seen[0] + self.window_s - now)
            seen.append(now)
            if len(self._seen) > 10_000:
                # Forget idle addresses so a scan of many sources cannot grow memory for ever.
                for stale in [k for k, v in self._seen.items() if not v or k != key][:5_000]:
                    del self._seen[stale]
            return None
