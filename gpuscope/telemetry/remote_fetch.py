"""One bounded HTTP GET of another host's ``/metrics``: at most ``MAX_BODY_BYTES``, within one
deadline for the whole fetch (the name's lookup, every address's connect, the request, headers
and body together), and every way it can fail said in one line.

A real exporter answers about 10 KB (8 GPUs) in a few milliseconds. Whatever sits at the URL
instead (a 1.5 GB file, a server that drips a byte a second, an SSH port, a body cut short) costs
one poll and a few megabytes at most, never the poller or the UI's memory.
"""

from __future__ import annotations

import contextlib
import http.client
import socket
import ssl
import threading
import time
from typing import Any, ClassVar
from urllib.parse import SplitResult, urlsplit

from gpuscope.safe_text import one_line

MAX_BODY_BYTES = 4 << 20  # 400x what 8 GPUs send; 64 devices send ~100 KB
FETCH_DEADLINE_S = 2.0  # lookup, connect, request, headers and body together


_Address = tuple[socket.AddressFamily, socket.SocketKind, int, str, Any]  # getaddrinfo's


def http_url(text: str, option: str) -> SplitResult:
    """``text`` split as an ``http(s)://HOST[:PORT]...`` URL given to ``option``; ValueError
    with a one-line reason naming ``option`` otherwise (``http://[::1`` included, which
    urlsplit itself refuses with a message that names nothing)."""
    shown = one_line(text)
    try:
        parts = urlsplit(text)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError
    except ValueError:
        raise ValueError(f"{option} wants an http(s)://HOST:PORT URL, got {shown!r}") from None
    try:
        parts.port  # noqa: B018 (raises ValueError for a bad port)
    except ValueError:
        raise ValueError(f"{option}: bad port in {shown!r}") from None
    return parts


class FetchError(Exception):
    """An answer we refuse (too big, not 200, too slow), said in one line."""


class AnswerTooLarge(FetchError):
    """A body over the cap: its message names the cap (a caller may say what it expected)."""


def http_get(
    url: str, deadline_s: float = FETCH_DEADLINE_S, max_bytes: int = MAX_BODY_BYTES
) -> str:
    """The body at ``url`` (UTF-8, undecodable bytes replaced); FetchError or the connection's
    own exception otherwise. Takes at most about ``deadline_s`` in all: the name's lookup and
    each address's connect get only the time left, and a timer shuts the socket when it passes,
    however the server dribbles its bytes. No proxy, no redirect: a remote is an exporter on the
    network the user names."""
    parts = urlsplit(url)
    https = parts.scheme == "https"
    connection_class = http.client.HTTPSConnection if https else http.client.HTTPConnection
    connection = connection_class(parts.hostname or "", parts.port, timeout=deadline_s)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    ends_at = time.monotonic() + deadline_s
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
        sock = _connect(connection.host, connection.port, ends_at, opened)
        if cut.is_set():  # the deadline passed as it connected: the timer may have missed it
            raise TimeoutError
        if https:  # as HTTPSConnection would, within the time left (the socket's timeout)
            context = ssl.create_default_context()
            context.set_alpn_protocols(["http/1.1"])
            sock = context.wrap_socket(
                sock, server_hostname=connection.host, do_handshake_on_connect=False
            )
            opened.append(sock)  # the plain one was handed over: the timer cuts this one
            sock.do_handshake()
        connection.sock = sock  # connected: request() sends on it
        body = _get(connection, target, max_bytes)
    except FetchError:
        raise
    except Exception:
        if cut.is_set() or time.monotonic() >= ends_at:
            raise FetchError(f"no whole answer within {deadline_s:g} s") from None
        raise
    finally:
        timer.cancel()
        connection.close()
        for sock in opened:  # a failed handshake or a late cut leaves them out of connection
            with contextlib.suppress(OSError):
                sock.close()
    if cut.is_set():  # a body read to its close may have been cut short by the timer
        raise FetchError(f"no whole answer within {deadline_s:g} s")
    return body.decode("utf-8", errors="replace")


def _connect(host: str, port: int, ends_at: float, opened: list[socket.socket]) -> socket.socket:
    """A socket connected to the first of ``host``'s addresses that answers before ``ends_at``;
    each attempt gets only the time left (``socket.create_connection`` gave each address the
    whole timeout, and the name's lookup had none)."""
    error: OSError = TimeoutError()
    for family, kind, proto, _, address in resolve(host, port, ends_at - time.monotonic()):
        left_s = ends_at - time.monotonic()
        if left_s <= 0:
            break
        sock = socket.socket(family, kind, proto)
        opened.append(sock)
        try:
            sock.settimeout(left_s)
            sock.connect(address)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            return sock
        except OSError as exc:
            sock.close()
            error = exc
    raise error


class _Lookup:
    """One ``getaddrinfo`` on a thread of its own: the system's resolver cannot be given a
    timeout, so a fetch waits for it only as long as its deadline allows. Callers that ask for
    a name still being looked up wait on the same lookup, so a resolver that hangs holds one
    thread per name, not one per poll."""

    running: ClassVar[dict[tuple[str, int], _Lookup]] = {}
    lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self, host: str, port: int) -> None:
        self.done = threading.Event()
        self.addresses: list[_Address] = []
        self.error: Exception | None = None
        thread = threading.Thread(target=self._run, args=(host, port), daemon=True)
        thread.name = "gpuscope lookup"
        thread.start()

    def _run(self, host: str, port: int) -> None:
        try:
            self.addresses = list(socket.getaddrinfo(host, port, type=socket.SOCK_STREAM))
        except Exception as exc:
            self.error = exc
        finally:
            with _Lookup.lock:
                _Lookup.running.pop((host, port), None)
            self.done.set()


def resolve(host: str, port: int, timeout_s: float) -> list[_Address]:
    """``getaddrinfo``'s stream addresses for ``host``, waited for at most ``timeout_s``
    (FetchError then); its own error (``socket.gaierror``) if the name is unknown."""
    with _Lookup.lock:
        lookup = _Lookup.running.get((host, port))
        if lookup is None:
            lookup = _Lookup.running[host, port] = _Lookup(host, port)
    if not lookup.done.wait(max(0.0, timeout_s)):
        waited = f"{round(timeout_s, 1):g}"
        raise FetchError(f"host name {one_line(host, 100)} not resolved within {waited} s")
    if lookup.error is not None:
        raise lookup.error
    return lookup.addresses


def _get(connection: http.client.HTTPConnection, target: str, max_bytes: int) -> bytes:
    headers = {"Accept": "text/plain", "Accept-Encoding": "identity", "User-Agent": "gpuscope"}
    connection.request("GET", target, headers=headers)
    response = connection.getresponse()
    if response.status != 200:
        raise FetchError(f"HTTP {response.status} {one_line(response.reason, 60)}")
    too_big = AnswerTooLarge(
        f"answer over {max_bytes / 2**20:g} MiB: refused (an exporter sends ~10 KB)"
    )
    if response.length is not None:  # declared: read exactly that, IncompleteRead if short
        if response.length > max_bytes:
            raise too_big
        return response.read()
    body = response.read(max_bytes + 1)  # chunked or read to the close
    if len(body) > max_bytes:
        raise too_big
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
