"""The load generator reads every reply shape a server may send, so its counts are true."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from bench.loadgen import Run, fixed_rate, flat_out

OK = b'HTTP/1.1 201 Created\r\nContent-Length: 11\r\n\r\n{"id": 17}\n'
CHUNKED = (
    b"HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n"
    b'4;note=first\r\n{"id\r\n7\r\n": 18}\n\r\n0\r\nX-Trailer: yes\r\n\r\n'
)
UNTIL_CLOSE = b'HTTP/1.1 201 Created\r\nConnection: close\r\n\r\n{"id": 19}'
HTTP10 = b'HTTP/1.0 201 Created\r\n\r\n{"id": 20}'
CONTINUE_THEN_OK = b"HTTP/1.1 100 Continue\r\n\r\n" + OK
NO_CONTENT = b"HTTP/1.1 204 No Content\r\n\r\n"
GARBAGE = b"SSH-2.0-OpenSSH_9.2\r\n\r\n"


async def _serve(replies: list[bytes], load: Callable[[int], Awaitable[Run]]) -> tuple[Run, int]:
    """Answer each request with the next canned reply; return the run and the connections
    the server saw. A reply framed by the connection's end closes the connection."""
    queue = list(replies)
    connections = 0

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        try:
            while queue:
                head = await reader.readuntil(b"\r\n\r\n")
                length = next(
                    int(line.split(b":")[1])
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length:")
                )
                await reader.readexactly(length)
                reply = queue.pop(0)
                writer.write(reply)
                await writer.drain()
                if reply in (UNTIL_CLOSE, HTTP10, GARBAGE):
                    break
        except asyncio.IncompleteReadError:
            pass
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        run = await load(port)
    return run, connections


def _flat_out(count: int) -> Callable[[int], Awaitable[Run]]:
    def load(port: int) -> Awaitable[Run]:
        return flat_out(
            host="127.0.0.1",
            port=port,
            path="/in/",
            make_body=lambda i: b'{"n": %d}' % i,
            connections=1,
            count=count,
            duration=10.0,
            timeout=5.0,
        )

    return load


def test_it_reads_chunked_and_length_replies_on_one_kept_alive_connection():
    run, connections = asyncio.run(_serve([CHUNKED, OK, CHUNKED, OK], _flat_out(4)))

    assert [(s.status, s.body, s.error) for s in run.samples] == [
        (201, b'{"id": 18}\n', ""),
        (201, b'{"id": 17}\n', ""),
        (201, b'{"id": 18}\n', ""),
        (201, b'{"id": 17}\n', ""),
    ]
    assert connections == 1


def test_it_reads_a_body_up_to_the_close_and_opens_a_new_connection():
    run, connections = asyncio.run(_serve([UNTIL_CLOSE, HTTP10, OK], _flat_out(3)))

    assert [(s.status, s.body) for s in run.samples] == [
        (201, b'{"id": 19}'),
        (201, b'{"id": 20}'),
        (201, b'{"id": 17}\n'),
    ]
    assert connections == 3


def test_it_skips_interim_replies_and_reads_no_body_after_204():
    run, connections = asyncio.run(_serve([CONTINUE_THEN_OK, NO_CONTENT, OK], _flat_out(3)))

    assert [(s.status, s.body) for s in run.samples] == [
        (201, b'{"id": 17}\n'),
        (204, b""),
        (201, b'{"id": 17}\n'),
    ]
    assert connections == 1


def test_a_reply_that_is_not_http_counts_as_no_reply_and_the_run_goes_on():
    run, connections = asyncio.run(_serve([GARBAGE, OK], _flat_out(2)))

    first, second = run.samples
    assert first.status == 0
    assert first.error.startswith("ProtocolError: not an HTTP/1.x status line")
    assert (second.status, second.body) == (201, b'{"id": 17}\n')
    assert connections == 2


def test_fixed_rate_reuses_connections_across_chunked_replies():
    def load(port: int) -> Awaitable[Run]:
        return fixed_rate(
            host="127.0.0.1",
            port=port,
            path="/in/",
            make_body=lambda i: b"{}",
            rate=200.0,
            count=6,
            max_in_flight=1,
            timeout=5.0,
        )

    run, connections = asyncio.run(_serve([CHUNKED, OK] * 3, load))

    assert sorted(s.index for s in run.samples if s.status == 201) == [0, 1, 2, 3, 4, 5]
    assert connections == 1
