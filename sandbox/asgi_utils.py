"""Small ASGI helpers shared by the sandbox's fronts.

:func:`abort_connection` makes an outage look like one to a client: the TCP connection is reset
instead of answered. ASGI has no way to say that, so it reaches for the transport behind
uvicorn's ``receive`` callable; when that is not available it falls back to an exception, which
uvicorn turns into a 500 (or a cut connection once a response has started).
:func:`read_body` reads a request body whole.

No Azure behaviour lives here: these are transport helpers for the sandbox's test mechanisms. The
reset uses ``SO_LINGER`` with a zero timeout, which makes ``close()`` send RST (socket(7),
"SO_LINGER"); ASGI messages are as the ASGI HTTP spec defines them (``http.request`` with
``more_body``, ``http.disconnect``: asgi.readthedocs.io, "HTTP & WebSocket ASGI Message Format").
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
from typing import Any

_LINGER_ZERO = struct.pack("ii", 1, 0)  # close() then sends RST instead of FIN


class ConnectionAborted(Exception):
    """Raised when the transport could not be reached to reset the connection."""


async def abort_connection(receive: Any) -> None:
    """Reset the client's TCP connection (uvicorn's h11/httptools protocols)."""
    transport = getattr(getattr(receive, "__self__", None), "transport", None)
    if transport is None:
        raise ConnectionAborted("sandbox fault: connection reset")
    sock = transport.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_ZERO)
    transport.abort()
    # Let connection_lost run so uvicorn marks the cycle disconnected and sends no 500.
    await asyncio.sleep(0)
    await asyncio.sleep(0)


class ClientGone(Exception):
    """The client disconnected while sending its request body."""


async def read_body(receive: Any, partial_on_disconnect: bool = False) -> bytes:
    """The whole request body. A client that disconnects before its end: :class:`ClientGone`, or
    with ``partial_on_disconnect`` the part that had arrived."""
    parts: list[bytes] = []
    more = True
    while more:
        message = await receive()
        if message["type"] == "http.disconnect":
            if partial_on_disconnect:
                break
            raise ClientGone()
        parts.append(message.get("body", b""))
        more = message.get("more_body", False)
    return b"".join(parts)
