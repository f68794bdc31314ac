"""A small HTTP/1.1 load generator on asyncio: fixed-rate (open loop) and flat-out (closed loop).

Only the standard library, so its own cost is easy to see and to read. Every request is a
``POST`` of a ready-made body; the reply's status and body are read in full, however the
server frames it (``Content-Length``, chunked, or up to the connection's end). The generator
speaks only to the host and port it is given, and every loop ends by count and by time.

Fixed rate: the send time of request ``i`` is fixed in advance (``start + i / rate``) and its
latency runs from that scheduled time, not from when a connection happened to be free, so a
stalled server shows up as latency instead of quietly lowering the offered rate (the
"coordinated omission" that closed-loop tools hide).
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class Sample:
    """One request: when it was meant to go, when it went, when its reply was complete."""

    index: int
    scheduled: float  # time.monotonic()
    sent: float
    done: float
    status: int  # 0: no reply (connection error, time-out or a reply that is not HTTP)
    body: bytes = b""
    error: str = ""  # why there was no reply

    @property
    def latency(self) -> float:
        return self.done - self.scheduled

    @property
    def service_time(self) -> float:
        return self.done - self.sent


@dataclass
class Run:
    """What a load phase sent and got back."""

    samples: list[Sample] = field(default_factory=list)
    started: float = 0.0  # time.monotonic()
    finished: float = 0.0
    wall_started: float = 0.0  # time.time() at ``started``, to compare with database times
    unsent: int = 0  # fixed rate: scheduled requests never sent because time ran out

    def wall(self, monotonic: float) -> float:
        return self.wall_started + (monotonic - self.started)

    @property
    def elapsed(self) -> float:
        return self.finished - self.started


class ProtocolError(ValueError):
    """The server's reply is not HTTP/1.x as RFC 9112 frames it."""


@dataclass
class Reply:
    """One HTTP/1.x reply, read in full."""

    status: int
    body: bytes
    close: bool  # the server ends the connection after this reply


def _header_tokens(value: bytes) -> list[bytes]:
    return [token.strip().lower() for token in value.split(b",") if token.strip()]


async def read_reply(reader: asyncio.StreamReader, *, bodyless: bool = False) -> Reply:
    """Read one reply from ``reader`` whatever its framing (RFC 9112 section 6.3).

    Interim 1xx replies are skipped; the body is read by ``Transfer-Encoding: chunked``
    (extensions and trailers too), by ``Content-Length``, or up to the end of the connection
    when neither is given. A reply to HEAD (``bodyless``), a 204 and a 304 have no body. A
    reply that is not HTTP/1.x raises ``ProtocolError``; a connection closed too early raises
    ``ConnectionError`` or ``asyncio.IncompleteReadError``.
    """
    while True:
        status_line = await reader.readline()
        if not status_line:
            raise ConnectionError("the server closed the connection without a reply")
        parts = status_line.split(None, 2)
        if len(parts) < 2 or not parts[0].startswith(b"HTTP/1.") or not parts[1].isdigit():
            raise ProtocolError(f"not an HTTP/1.x status line: {status_line[:80]!r}")
        version, status = parts[0], int(parts[1])
        headers: dict[bytes, list[bytes]] = {}
        while True:
            line = await reader.readline()
            if line in (b"\r\n", b"\n"):
                break
            if not line:
                raise ConnectionError("the server closed the connection inside the headers")
            name, colon, value = line.partition(b":")
            if not colon:
                raise ProtocolError(f"not a header line: {line[:80]!r}")
            headers.setdefault(name.strip().lower(), []).append(value.strip())
        if 100 <= status < 200 and status != 101:
            continue  # 100 Continue, 103 Early Hints: the real reply follows
        break
    connection = [t for value in headers.get(b"connection", []) for t in _header_tokens(value)]
    close = b"close" in connection or (version == b"HTTP/1.0" and b"keep-alive" not in connection)
    codings = [t for value in headers.get(b"transfer-encoding", []) for t in _header_tokens(value)]
    if bodyless or status in (204, 304) or 100 <= status < 200:
        body = b""
    elif codings:
        if codings[-1] == b"chunked":
            body = await _read_chunked(reader)
        else:  # any other last coding: the body runs to the end of the connection
            body = await reader.read()
            close = True
    elif b"content-length" in headers:
        lengths = {v for value in headers[b"content-length"] for v in _header_tokens(value)}
        if len(lengths) != 1 or not next(iter(lengths)).isdigit():
            raise ProtocolError(f"bad Content-Length: {headers[b'content-length']!r}")
        body = await reader.readexactly(int(lengths.pop()))
    else:
        body = await reader.read()
        close = True
    return Reply(status, body, close)


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    chunks = []
    while True:
        size_line = await reader.readline()
        if not size_line:
            raise ConnectionError("the server closed the connection inside a chunked body")
        size_text = size_line.split(b";", 1)[0].strip()  # a chunk extension may follow
        try:
            size = int(size_text, 16)
        except ValueError:
            raise ProtocolError(f"bad chunk size line: {size_line[:80]!r}") from None
        if size == 0:
            break
        chunks.append(await reader.readexactly(size))
        if await reader.readline() not in (b"\r\n", b"\n"):
            raise ProtocolError("a chunk does not end with CRLF")
    while True:  # trailer fields, up to the empty line
        line = await reader.readline()
        if line in (b"\r\n", b"\n"):
            break
        if not line:
            raise ConnectionError("the server closed the connection inside the trailers")
    return b"".join(chunks)


class Connection:
    """One keep-alive connection; reopened when the server closes it (gunicorn's sync workers
    close after every reply)."""

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(self, head: bytes, body: bytes) -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        self.writer.write(head + body)
        await self.writer.drain()
        reply = await read_reply(self.reader, bodyless=head.startswith(b"HEAD "))
        if reply.close:
            self.close()
        return reply.status, reply.body

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


def request_head(host: str, port: int, path: str, length: int, content_type: str) -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: {content_type}\r\n"
        f"Accept: application/json\r\nUser-Agent: leadline-bench\r\n"
        f"Content-Length: {length}\r\n\r\n"
    ).encode("ascii")


async def _send(
    connection: Connection,
    host: str,
    port: int,
    path: str,
    body: bytes,
    content_type: str,
    timeout: float,
) -> tuple[int, bytes, float, str]:
    head = request_head(host, port, path, len(body), content_type)
    sent = time.monotonic()
    try:
        status, reply = await asyncio.wait_for(connection.request(head, body), timeout)
    except (TimeoutError, OSError, asyncio.IncompleteReadError, ValueError) as exc:
        connection.close()
        return 0, b"", sent, f"{type(exc).__name__}: {exc}"[:200]
    return status, reply, sent, ""


async def fixed_rate(
    *,
    host: str,
    port: int,
    path: str,
    make_body: Callable[[int], bytes],
    rate: float,
    count: int,
    max_in_flight: int = 1000,
    timeout: float = 10.0,
    content_type: str = "application/json",
) -> Run:
    """Send ``count`` requests at ``rate`` per second on a schedule fixed in advance.

    At most ``max_in_flight`` requests are outstanding; a request that must wait for one of
    them still counts its latency from its scheduled time. The phase ends after the last
    reply or ``count / rate + 2 * timeout`` seconds, whichever comes first.
    """
    run = Run()
    idle: list[Connection] = []
    slots = asyncio.Semaphore(max_in_flight)
    pending: set[asyncio.Task[None]] = set()
    bodies = [make_body(i) for i in range(count)]

    async def one(index: int, scheduled: float) -> None:
        try:
            connection = idle.pop() if idle else Connection(host, port)
            status, reply, sent, error = await _send(
                connection, host, port, path, bodies[index], content_type, timeout
            )
            done = time.monotonic()
            run.samples.append(Sample(index, scheduled, sent, done, status, reply, error))
            idle.append(connection)
        finally:
            slots.release()

    run.started = time.monotonic()
    run.wall_started = time.time()
    deadline = run.started + count / rate + 2 * timeout
    for index in range(count):
        scheduled = run.started + index / rate
        delay = scheduled - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        await slots.acquire()
        if time.monotonic() > deadline:
            slots.release()
            run.unsent = count - index
            break
        task = asyncio.create_task(one(index, scheduled))
        pending.add(task)
        task.add_done_callback(pending.discard)
    if pending:
        await asyncio.wait(pending, timeout=max(0.0, deadline - time.monotonic()) + timeout)
    for task in pending:
        task.cancel()
    run.finished = time.monotonic()
    for connection in idle:
        connection.close()
    return run


async def flat_out(
    *,
    host: str,
    port: int,
    path: str,
    make_body: Callable[[int], bytes],
    connections: int,
    count: int,
    duration: float,
    timeout: float = 10.0,
    content_type: str = "application/json",
) -> Run:
    """``connections`` senders, each posting again as soon as its reply is in, until
    ``count`` requests are sent or ``duration`` seconds have passed."""
    run = Run()
    bodies = [make_body(i) for i in range(count)]
    next_index = 0

    async def sender() -> None:
        nonlocal next_index
        connection = Connection(host, port)
        while next_index < count and time.monotonic() < deadline:
            index = next_index
            next_index += 1
            scheduled = time.monotonic()
            status, reply, sent, error = await _send(
                connection, host, port, path, bodies[index], content_type, timeout
            )
            done = time.monotonic()
            run.samples.append(Sample(index, scheduled, sent, done, status, reply, error))
        connection.close()

    run.started = time.monotonic()
    run.wall_started = time.time()
    deadline = run.started + duration
    await asyncio.gather(*(sender() for _ in range(connections)))
    run.finished = time.monotonic()
    return run


def percentile(values: list[float], fraction: float) -> float:
    """The nearest-rank percentile of ``values`` (``fraction`` in 0..1); NaN when empty."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), math.ceil(fraction * len(ordered))))
    return ordered[rank - 1]
