"""The sign-in throttle: it forgets only addresses idle for a whole window, and stays bounded."""

from __future__ import annotations

import pytest

from alliance.web.throttle import Throttle


class Clock:
    """A hand-moved clock, in seconds."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def address(n: int) -> str:
    return f"10.{n // 65536}.{n // 256 % 256}.{n % 256}"


def test_it_keeps_counting_an_address_while_many_others_try() -> None:
    # Forgetting busy addresses to save memory would let a guesser wipe its own count by sending
    # attempts from enough other addresses within one window.
    clock = Clock()
    throttle = Throttle(attempts=2, window_s=60, clock=clock)
    assert throttle.hit("guesser") is None
    assert throttle.hit("guesser") is None
    assert throttle.hit("guesser") == 60
    for n in range(10_000):
        clock.now = n / 1000
        throttle.hit(address(n))
    assert throttle.hit("guesser") is not None


def test_it_forgets_an_address_once_idle_for_a_window() -> None:
    clock = Clock()
    throttle = Throttle(attempts=2, window_s=60, clock=clock)
    throttle.hit("a")
    clock.now = 30.0
    throttle.hit("b")
    clock.now = 60.0
    throttle.hit("c")
    assert throttle.tracked() == 2  # a's only attempt is a window old; b's is not
    clock.now = 90.0
    throttle.hit("c")
    assert throttle.tracked() == 1


def test_it_stays_bounded_while_a_flood_of_addresses_tries() -> None:
    clock = Clock()
    throttle = Throttle(attempts=2, window_s=60, clock=clock, max_addresses=3)
    for n in range(3):
        clock.now = float(n)
        assert throttle.hit(address(n)) is None
    clock.now = 10.0
    assert throttle.hit("newcomer") == 50  # until the first address's attempt is a window old
    assert throttle.hit(address(1)) is None  # an address already counted is answered as usual
    assert throttle.tracked() == 3
    clock.now = 60.0
    assert throttle.hit("newcomer") is None
    assert throttle.tracked() == 3


def test_it_refuses_a_table_that_could_not_count() -> None:
    with pytest.raises(ValueError, match="max_addresses"):
        Throttle(max_addresses=0)
