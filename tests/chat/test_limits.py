import pytest

from gateway.rates import Rate, RateLimiter, RateSyntaxError, parse_rate


def test_parse_rate() -> None:
    assert parse_rate("20/10s") == Rate(20, 10)
    assert parse_rate("100/1m") == Rate(100, 60)
    assert parse_rate(" 5 / 2h ") == Rate(5, 7200)
    for bad in ("", "20", "0/10s", "20/0s", "x/10s", "20/10d"):
        with pytest.raises(RateSyntaxError):
            parse_rate(bad)


def test_a_burst_then_the_steady_rate() -> None:
    limiter = RateLimiter(Rate(20, 10))
    assert all(limiter.allow("c", now=100.0) for _ in range(20))
    assert not limiter.allow("c", now=100.0)
    assert not limiter.allow("c", now=100.4)
    assert limiter.allow("c", now=100.5)  # one every half second after the burst
    assert not limiter.allow("c", now=100.6)
    assert limiter.allow("other", now=100.6)  # per conversation
    assert all(limiter.allow("c", now=200.0) for _ in range(20))  # rested: full burst again


def test_idle_keys_are_forgotten_when_full() -> None:
    limiter = RateLimiter(Rate(2, 1), prune_at=10)
    for n in range(10):
        assert limiter.allow(f"k{n}", now=0.0)
    assert limiter.allow("new", now=5.0)
    assert len(limiter._next_due) == 1


def test_the_map_stays_near_the_active_conversations() -> None:
    """Conversations come and go for hours: the limiter holds about the live ones, not all."""
    limiter = RateLimiter(Rate(2, 1), prune_at=10)
    for n in range(10_000):
        assert limiter.allow(f"k{n}", now=n / 5)  # five new conversations a second, each once
        assert len(limiter._next_due) <= 20
    assert limiter.allow("k9999", now=9999 / 5)  # a live key is still counted: its burst of
    assert not limiter.allow("k9999", now=9999 / 5)  # two is spent
