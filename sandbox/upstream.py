"""A minimal pooled HTTP/1.1 client for the storage proxy's hop to Azurite.

Why not httpx: profiling the proxy under a 16-thread copy loop showed ~2.4 ms of CPU per
request, two thirds of it in httpcore's pool bookkeeping (each request checks every pooled
connection for expiry through anyio socket attributes). The hop to Azurite is loopback-only,
HTTP/1.1, to one server we start ourselves, so a small client on asyncio streams does the job
at a fraction of the cost. Bodies are streamed in both directions; nothing is buffered whole.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import AsyncIterator

CHUNK = 64 * 1024
HEADER_LIMIT = 1024 * 1024
IDLE_SECONDS = 120.0  # keep below Azurite's --keepAliveTimeout (see foundry_dr_sandbox.azurite)


class UpstreamError(Exception):
    """The upstream connection failed or answered something that is not HTTP/1.1."""


class Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.idle_since = time.monotonic()
        self.reused = False

    def usable(self) -> bool:
        return (
            not self.reader.at_eof()
            and not self.writer.is_closing()
            and time.monotonic() - self.idle_since < IDLE_SECONDS
        )

    def close(self) -> None:
        self.writer.close()


class Response:
    """Status and headers of an upstream answer; iterate :meth:`body` once, then :meth:`release`."""

    def __init__(self, pool: Pool, conn: Connection, status: int, headers: list[tuple[bytes, bytes]],
                 length: int | None, chunked: bool, keep_alive: bool) -> None:  # fmt: skip
        self.pool, self.conn, self.status, self.headers = pool, conn, status, headers
        self._length, self._chunked, self._keep_alive = length, chunked, keep_alive
        self._done = False

    async def body(self) -> AsyncIterator[bytes]:
        reader = self.conn.reader
        if self._chunked:
            while True:
                size = int((await reader.readuntil(b"\r\n")).split(b";", 1)[0], 16)
                if size == 0:
                    while (await reader.readuntil(b"\r\n")) != b"\r\n":  # trailers
                        pass
                    break
                remaining = size
                while remaining:
                    data = await reader.read(min(remaining, CHUNK))
                    if not data:
                        raise UpstreamError("upstream closed mid-chunk")
                    remaining -= len(data)
                    yield data
                await reader.readexactly(2)
        elif self._length is not None:
            remaining = self._length
            while remaining:
                data = await reader.read(min(remaining, CHUNK))
                if not data:
                    raise UpstreamError("upstream closed mid-body")
                remaining -= len(data)
                yield data
        else:  # delimited by the end of the connection
            self._keep_alive = False
            while data := await reader.read(CHUNK):
                yield data
        self._done = True

    def release(self) -> None:
        """Return the connection to the pool if the exchange completed cleanly, else close it."""
        if self._done and self._keep_alive:
            self.pool.put(self.conn)
        else:
            self.conn.close()


class Pool:
    """Idle keep-alive connections to one ``host:port``; new ones are opened on demand."""

    def __init__(self, host: str, port: int, max_idle: int = 256) -> None:
        self.host, self.port, self.max_idle = host, port, max_idle
        self._idle: deque[Connection] = deque()

    async def _get(self) -> Connection:
        while self._idle:
            conn = self._idle.pop()
            if conn.usable():
                conn.reused = True
                return conn
            conn.close()
        reader, writer = await asyncio.open_connection(self.host, self.port, limit=HEADER_LIMIT)
        return Connection(reader, writer)

    def put(self, conn: Connection) -> None:
        if len(self._idle) < self.max_idle and conn.usable():
            conn.idle_since = time.monotonic()
            self._idle.append(conn)
        else:
            conn.close()

    async def request(
        self,
        method: str,
        target: bytes,
        headers: list[tuple[bytes, bytes]],
        body: bytes | AsyncIterator[bytes] | None,
    ) -> Response:
        """Send a request and read the response head. ``headers`` must carry framing
        (``content-length``) for a bytes body; an iterator body without it goes chunked."""
        # A pooled connection may have been closed by Azurite meanwhile: retry once on a new
        # one, unless a streamed body was already (partly) consumed.
        for attempt in (1, 2):
            conn = await self._get()
            try:
                await self._send(conn, method, target, headers, body)
                return await self._read_head(conn, method)
            except (ConnectionError, asyncio.IncompleteReadError, UpstreamError) as exc:
                conn.close()
                if attempt == 2 or not conn.reused or not (body is None or isinstance(body, bytes)):
                    raise UpstreamError(str(exc) or type(exc).__name__) from exc
            except BaseException:
                conn.close()  # e.g. the client went away mid-body: never pool a half-sent request
                raise
        raise AssertionError("unreachable")

    async def _send(
        self,
        conn: Connection,
        method: str,
        target: bytes,
        headers: list[tuple[bytes, bytes]],
        body: bytes | AsyncIterator[bytes] | None,
    ) -> None:
        chunked = (
            body is not None
            and not isinstance(body, bytes)
            and not any(k == b"content-length" for k, _ in headers)
        )
        head = [method.encode(), b" ", target, b" HTTP/1.1\r\n"]
        for k, v in headers:
            head += [k, b": ", v, b"\r\n"]
        if chunked:
            head.append(b"transfer-encoding: chunked\r\n")
        head.append(b"\r\n")
        writer = conn.writer
        writer.write(b"".join(head))
        if isinstance(body, bytes):
            writer.write(body)
        elif body is not None:
            async for part in body:
                writer.write(b"%x\r\n%b\r\n" % (len(part), part) if chunked else part)
                await writer.drain()
            if chunked:
                writer.write(b"0\r\n\r\n")
        await writer.drain()

    async def _read_head(self, conn: Connection, method: str) -> Response:
        try:
            raw = await conn.reader.readuntil(b"\r\n\r\n")
        except asyncio.LimitOverrunError as exc:
            raise UpstreamError("upstream response head too large") from exc
        lines = raw[:-4].split(b"\r\n")
        parts = lines[0].split(b" ", 2)
        if len(parts) < 2 or not parts[0].startswith(b"HTTP/1."):
            raise UpstreamError(f"not an HTTP/1.1 response: {lines[0][:80]!r}")
        status = int(parts[1])
        headers: list[tuple[bytes, bytes]] = []
        length: int | None = None
        chunked = False
        keep_alive = parts[0] == b"HTTP/1.1"
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            name, value = name.strip().lower(), value.strip()
            if name == b"content-length":
                length = int(value)
            elif name == b"transfer-encoding":
                chunked = b"chunked" in value.lower()
            elif name == b"connection":
                keep_alive = b"close" not in value.lower()
            headers.append((name, value))
        if method == "HEAD" or status in (204, 304) or 100 <= status < 200:
            length, chunked = 0, False
        return Response(self, conn, status, headers, length, chunked, keep_alive)
