"""admission.read_body: a body that is already in is taken without a timer; one that has to be
waited for is read under the deadline, in pieces, and a client that goes away or stalls gets None."""
from __future__ import annotations

import asyncio

import pytest

from keyplane import admission


def _run(coro):
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(coro)
    finally:
        loop.close()


def _receiver(messages, delay_first: float = 0.0):
    """An ASGI receive() over `messages`; with `delay_first` the first one arrives later."""
    async def scenario(limit=1024, timeout=1.0):
        queue: asyncio.Queue = asyncio.Queue()

        async def feed():
            if delay_first:
                await asyncio.sleep(delay_first)
            for m in messages:
                queue.put_nowait(m)
                await asyncio.sleep(0)

        async def receive():
            return await queue.get()
        feeder = asyncio.get_running_loop().create_task(feed())
        if not delay_first:
            await asyncio.sleep(0)      # the first message is in before the app asks
        try:
            return await admission.read_body(receive, limit, timeout)
        finally:
            feeder.cancel()
    return scenario


def test_a_body_already_in_is_returned_whole():
    body = _run(_receiver([{"type": "http.request", "body": b'{"KeyId": "k"}', "more_body": False}])())
    assert body == b'{"KeyId": "k"}'


def test_a_body_that_has_to_be_waited_for_arrives_in_pieces():
    parts = [{"type": "http.request", "body": b'{"a":', "more_body": True},
             {"type": "http.request", "body": b' 1}', "more_body": False}]
    assert _run(_receiver(parts, delay_first=0.01)()) == b'{"a": 1}'


def test_a_body_in_pieces_already_in():
    parts = [{"type": "http.request", "body": b"ab", "more_body": True},
             {"type": "http.request", "body": b"cd", "more_body": False}]
    assert _run(_receiver(parts)()) == b"abcd"


def test_a_client_that_goes_away_gives_none():
    assert _run(_receiver([{"type": "http.disconnect"}])()) is None
    assert _run(_receiver([{"type": "http.disconnect"}], delay_first=0.01)()) is None


def test_a_body_that_never_comes_gives_none_at_the_deadline():
    assert _run(_receiver([], delay_first=10)(timeout=0.05)) is None


def test_a_body_over_the_limit_is_refused_whether_it_is_in_or_comes_later():
    big = {"type": "http.request", "body": b"x" * 2048, "more_body": False}
    with pytest.raises(admission.BodyTooLarge):
        _run(_receiver([big])(limit=1024))
    with pytest.raises(admission.BodyTooLarge):
        _run(_receiver([big], delay_first=0.01)(limit=1024))
    pieces = [{"type": "http.request", "body": b"x" * 600, "more_body": True}] * 2
    with pytest.raises(admission.BodyTooLarge):
        _run(_receiver(pieces)(limit=1024))
