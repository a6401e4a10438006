"""Polling pace: `Retry-After` is honoured, backoff without it, and an overall deadline."""

from dataclasses import dataclass
from datetime import datetime, timezone

import pytest
from multidict import CIMultiDict, CIMultiDictProxy

from star_operator.acme.errors import AcmeTimeout
from star_operator.acme.http import HttpResponse
from star_operator.acme.polling import poll_until


def _resp(retry_after: str | None) -> HttpResponse:
    headers = CIMultiDict({"Retry-After": retry_after} if retry_after else {})
    now = datetime.now(timezone.utc)
    return HttpResponse("https://ca/o/1", 200, CIMultiDictProxy(headers), b"{}", now)


@dataclass
class FakeTime:
    """A clock that only moves when the poller sleeps, recording each wait."""

    now: float = 0.0

    def __post_init__(self) -> None:
        self.waits: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.now += seconds


async def test_retry_after_is_honoured() -> None:
    states = iter([("processing", "3"), ("processing", "5"), ("valid", None)])
    time = FakeTime()

    async def fetch():
        status, ra = next(states)
        return status, _resp(ra)

    result = await poll_until(
        fetch, lambda s: s == "valid", timeout=60, what="order", sleep=time.sleep, clock=time.clock
    )
    assert result == "valid"
    assert time.waits == [3.0, 5.0]


async def test_backoff_without_retry_after() -> None:
    time = FakeTime()
    calls = 0

    async def fetch():
        nonlocal calls
        calls += 1
        return ("valid" if calls == 5 else "pending"), _resp(None)

    await poll_until(
        fetch, lambda s: s == "valid", timeout=60, what="authz", sleep=time.sleep, clock=time.clock
    )
    assert time.waits == [1.0, 2.0, 4.0, 8.0]


async def test_deadline_raises_timeout_naming_the_object() -> None:
    time = FakeTime()

    async def fetch():
        return "processing", _resp("30")

    with pytest.raises(AcmeTimeout, match="order https://ca/o/1"):
        await poll_until(
            fetch,
            lambda s: False,
            timeout=45,
            what="order https://ca/o/1",
            sleep=time.sleep,
            clock=time.clock,
        )
    # 30 s as asked, then only the 15 s left before the deadline, then give up.
    assert time.waits == [30.0, 15.0]
