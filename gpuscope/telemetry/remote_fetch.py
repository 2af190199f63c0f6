"""One bounded HTTP GET of another host's ``/metrics``: at most ``MAX_BODY_BYTES``, within one
deadline for the whole fetch, and every way it can fail said in one line.

A real exporter answers about 10 KB (8 GPUs) in a few milliseconds. Whatever sits at the URL
instead (a 1.5 GB file, a server that drips a byte a second, an SSH port, a body cut short) costs
one poll and a few megabytes at most, never the poller or the UI's memory.
"""

from __future__ import annotations

import contextlib
import http.client
import socket
import threading
from urllib.parse import urlsplit

from gpuscope.safe_text import one_line

MAX_BODY_BYTES = 4 << 20  # 400x what 8 GPUs send; 64 devices send ~100 KB
FETCH_DEADLINE_S = 2.0  # connect, request, headers and body together


class FetchError(Exception):
    """An answer we refuse (too big, not 200, too slow), said in one line."""


def http_get(
    url: str, deadline_s: float = FETCH_DEADLINE_S, max_bytes: int = MAX_BODY_BYTES
) -> str:
    """The body at ``url`` (UTF-8, undecodable bytes replaced); FetchError or the connection's
    own exception otherwise. Takes at most about ``deadline_s`` in all: a timer shuts the socket
    when it passes, however the server dribbles its bytes. No proxy, no redirect: a remote is
    an exporter on the network the user names."""
    parts = urlsplit(url)
    connection_class = (
        http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    )
    connection = connection_class(parts.hostname or "", parts.port, timeout=deadline_s)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    cut = threading.Event()
    opened: list[socket.socket] = []  # the response keeps reading it after the connection
    # lets go of it (a body read to the close), so the timer holds its own reference

    def cut_off() -> None:
        cut.set()
        for sock in opened:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)  # wakes a blocked read at once

    timer = threading.Timer(deadline_s, cut_off)
    timer.daemon = True
    timer.start()
    try:
        body = _get(connection, target, max_bytes, cut, opened)
    except Exception:
        if cut.is_set():
            raise FetchError(f"no whole answer within {deadline_s:g} s") from None
        raise
    finally:
        timer.cancel()
        connection.close()
    if cut.is_set():  # a body read to its close may have been cut short by the timer
        raise FetchError(f"no whole answer within {deadline_s:g} s")
    return body.decode("utf-8", errors="replace")


def _get(
    connection: http.client.HTTPConnection,
    target: str,
    max_bytes: int,
    cut: threading.Event,
    opened: list[socket.socket],
) -> bytes:
    connection.connect()
    opened.append(connection.sock)
    if cut.is_set():  # the deadline passed while connecting: the timer found no socket
        raise TimeoutError
    headers = {"Accept": "text/plain", "Accept-Encoding": "identity", "User-Agent": "gpuscope"}
    connection.request("GET", target, headers=headers)
    response = connection.getresponse()
    if response.status != 200:
        raise FetchError(f"HTTP {response.status} {one_line(response.reason, 60)}")
    too_big = f"answer over {max_bytes / 2**20:g} MiB: refused (an exporter sends ~10 KB)"
    if response.length is not None:  # declared: read exactly that, IncompleteRead if short
        if response.length > max_bytes:
            raise FetchError(too_big)
        return response.read()
    body = response.read(max_bytes + 1)  # chunked or read to the close
    if len(body) > max_bytes:
        raise FetchError(too_big)
    return body


def describe_fetch_error(exc: BaseException) -> str:
    """One printable line for the host's "last error"."""
    if isinstance(exc, FetchError):
        text = str(exc)
    elif isinstance(exc, http.client.RemoteDisconnected):
        text = "closed the connection without an answer"
    elif isinstance(exc, http.client.BadStatusLine):
        text = f"not an HTTP answer: {exc}"
    elif isinstance(exc, http.client.IncompleteRead):
        text = f"answer cut short: {len(exc.partial)} bytes, {exc.expected} more expected"
    elif isinstance(exc, http.client.HTTPException):
        text = f"bad HTTP answer: {type(exc).__name__}: {exc}"
    elif isinstance(exc, socket.gaierror):
        text = f"host name not resolved: {exc.strerror or exc}"
    elif isinstance(exc, TimeoutError):
        text = "timed out"
    elif isinstance(exc, OSError):
        text = exc.strerror or str(exc) or type(exc).__name__
    elif isinstance(exc, MemoryError):
        text = "out of memory reading its answer"
    else:
        text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    return one_line(text)
