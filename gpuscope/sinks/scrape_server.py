"""The exporter's HTTP server: one thread, a selector, and limits, so that no client can keep
the scrapers out.

A thread per connection (what ``prometheus_client.start_http_server`` does) lets 1,000 idle
connections hold 1,000 threads and every file descriptor, and a listen backlog of 5 drops
connections when 50 scrapers arrive together. Here:

- on Linux, a connection that has sent nothing stays in the kernel (``TCP_DEFER_ACCEPT``, as
  nginx's ``deferred``): no descriptor, no accept, until its first bytes or ~``head_timeout_s``;
- a connection costs a descriptor and a few bytes, no thread, until it has sent its request
  head; it must send the whole head within ``head_timeout_s`` of being accepted (idle and
  half-sent heads are closed then), and take the whole answer within ``write_timeout_s``;
- at most ``max_connections`` are open (half the descriptors the process may have, up to
  4,096; ``gpuscope serve`` first raises its soft limit toward the hard one):
  a new one closes the oldest still waiting for its head, so a flood of idle connections sheds
  itself while a scraper, whose head arrives within milliseconds, is answered;
- a descriptor shortage (EMFILE) closes the oldest waiting connection too, never the listener;
- the listen backlog is ``backlog`` (4,096, or the kernel's ``somaxconn`` if lower), so a burst
  of connections waits in the kernel instead of being dropped.

One request per connection (``Connection: close``), GET or HEAD; any path but ``/favicon.ico``
serves the metrics, as prometheus_client's server does. Answers are rendered on this thread:
a scrape of 8 devices costs ~1 ms, and rendering on several threads would not run them in
parallel under the GIL anyway.
"""

from __future__ import annotations

import contextlib
import errno
import re
import resource
import selectors
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

Render = Callable[[str], tuple[bytes, str]]  # Accept header -> (body, content type)

_HEAD_END = re.compile(rb"\r?\n\r?\n")
_OUT_OF_DESCRIPTORS = {errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM}
_REASONS = {
    200: "OK",
    400: "Bad Request",
    404: "Not Found",
    405: "Method Not Allowed",
    431: "Request Header Fields Too Large",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


MOST_CONNECTIONS = 4096


def default_max_connections() -> int:
    """Half the descriptors this process may open, 16 to 4,096: the other half stays for
    the rest of the program (devices, files, the UI)."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return MOST_CONNECTIONS
    return max(16, min(MOST_CONNECTIONS, soft // 2))


def raise_descriptor_limit(wanted: int = 2 * MOST_CONNECTIONS) -> int:
    """Raise this process's soft descriptor limit toward ``wanted``, never above the hard
    limit and never down, as Go programs do at start (node_exporter among them); returns the
    soft limit now. The usual soft default of 1,024 is kept for programs that use
    ``select()``; a process that only serves through this module has none."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


@dataclass(frozen=True, slots=True)
class ServerLimits:
    head_timeout_s: float = 5.0  # connect to a whole request head
    write_timeout_s: float = 10.0  # a whole answer taken (Prometheus' default scrape timeout)
    max_connections: int = field(default_factory=default_max_connections)
    max_head_bytes: int = 16 << 10
    backlog: int = 4096  # the kernel caps it at net.core.somaxconn (4096 on Linux 5.4+)


@dataclass(slots=True, eq=False)
class _Connection:
    sock: socket.socket
    deadline_s: float
    head: bytearray = field(default_factory=bytearray)
    out: memoryview | None = None


def head_end(head: bytearray, new_bytes: int) -> int | None:
    """Where the request head ends (its blank line), or None while it has not; only the last
    ``new_bytes`` of ``head`` arrived since the last look. The blank line is at most 4 bytes, so
    the search starts 3 bytes before them: a head dripped a byte at a time costs its length, not
    its length squared (a search from the start each time read 16,384²/2 bytes for 16 KiB)."""
    end = _HEAD_END.search(head, max(0, len(head) - new_bytes - 3))
    return None if end is None else end.start()


class ScrapeServer:
    """Serves ``render``'s answer on ``address:port`` from one thread; OSError if the port
    cannot be had. ``shutdown`` stops the thread, ``server_close`` closes every socket."""

    def __init__(
        self, address: str, port: int, render: Render, limits: ServerLimits | None = None
    ) -> None:
        self.limits = limits or ServerLimits()
        self._render = render
        family = socket.getaddrinfo(address, port, type=socket.SOCK_STREAM)[0][0]
        self.socket = socket.create_server(
            (address, port), family=family, backlog=self.limits.backlog
        )
        if hasattr(socket, "TCP_DEFER_ACCEPT"):  # Linux: a connection that has sent nothing
            # waits in the kernel, costing no descriptor, until it sends or this passes
            with contextlib.suppress(OSError):
                defer_s = max(1, round(self.limits.head_timeout_s))
                self.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_DEFER_ACCEPT, defer_s)
        self.socket.setblocking(False)
        self.server_address = self.socket.getsockname()
        self._selector = selectors.DefaultSelector()
        self._selector.register(self.socket, selectors.EVENT_READ)
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._selector.register(self._wake_r, selectors.EVENT_READ)
        self._reading: dict[_Connection, None] = {}  # oldest first, so by deadline
        self._writing: dict[_Connection, None] = {}  # oldest first, so by deadline
        self._accept_paused_until: float | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="gpuscope exporter", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def shutdown(self) -> None:
        self._stop.set()
        with contextlib.suppress(OSError):
            self._wake_w.send(b"x")
        if self._thread.ident is not None:
            self._thread.join()

    def server_close(self) -> None:
        for connection in [*self._reading, *self._writing]:
            self._close(connection)
        self._selector.close()
        for sock in (self.socket, self._wake_r, self._wake_w):
            sock.close()

    def open_connections(self) -> int:
        return len(self._reading) + len(self._writing)

    # -- the loop -----------------------------------------------------------------------------

    def _serve(self) -> None:
        while not self._stop.is_set():
            for key, events in self._selector.select(self._wait_s()):
                connection = key.data
                try:
                    if key.fileobj is self.socket:
                        self._accept()
                    elif key.fileobj is self._wake_r:
                        with contextlib.suppress(OSError):
                            self._wake_r.recv(64)
                    elif connection not in self._reading and connection not in self._writing:
                        continue  # closed earlier in this batch (shed by an accept)
                    elif events & selectors.EVENT_WRITE:
                        self._write(connection)
                    else:
                        self._read(connection)
                except Exception:  # a bug met on one connection costs that one, not the server
                    if isinstance(connection, _Connection):
                        self._close(connection)
            self._expire(time.monotonic())

    def _wait_s(self) -> float:
        now = time.monotonic()
        wait = 1.0
        for pending in (self._reading, self._writing):
            if pending:
                wait = min(wait, next(iter(pending)).deadline_s - now)
        if self._accept_paused_until is not None:
            wait = min(wait, self._accept_paused_until - now)
        return max(0.0, wait)

    def _expire(self, now: float) -> None:
        for pending in (self._reading, self._writing):
            while pending and (oldest := next(iter(pending))).deadline_s <= now:
                self._close(oldest)
        if self._accept_paused_until is not None and now >= self._accept_paused_until:
            self._accept_paused_until = None
            self._selector.register(self.socket, selectors.EVENT_READ)

    def _accept(self) -> None:
        for _ in range(64):  # then let the reads run
            try:
                sock, _ = self.socket.accept()
            except BlockingIOError:
                return
            except OSError as exc:
                if exc.errno not in _OUT_OF_DESCRIPTORS:
                    continue  # e.g. ECONNABORTED: that client is gone
                if not self._shed_oldest():  # the descriptors are the rest of the program's
                    self._selector.unregister(self.socket)
                    self._accept_paused_until = time.monotonic() + 0.1
                    return
                continue
            if self.open_connections() >= self.limits.max_connections and not self._shed_oldest():
                self._refuse(sock)
                continue
            sock.setblocking(False)
            connection = _Connection(sock, time.monotonic() + self.limits.head_timeout_s)
            self._reading[connection] = None
            self._selector.register(sock, selectors.EVENT_READ, connection)

    def _shed_oldest(self) -> bool:
        """Close the connection that has waited longest for its head; False if none does."""
        if not self._reading:
            return False
        self._close(next(iter(self._reading)))
        return True

    def _refuse(self, sock: socket.socket) -> None:
        with contextlib.suppress(OSError):
            sock.setblocking(False)
            sock.send(_response(503, b"busy: too many connections\n", "text/plain"))
        sock.close()

    def _close(self, connection: _Connection) -> None:
        self._reading.pop(connection, None)
        self._writing.pop(connection, None)
        with contextlib.suppress(KeyError, ValueError):
            self._selector.unregister(connection.sock)
        connection.sock.close()

    # -- one connection -----------------------------------------------------------------------

    def _read(self, connection: _Connection) -> None:
        try:
            data = connection.sock.recv(4096)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self._close(connection)
            return
        connection.head += data
        if len(connection.head) > self.limits.max_head_bytes:
            self._answer(connection, 431, b"request head too large\n", "text/plain")
            return
        end = head_end(connection.head, len(data))
        if end is None:
            return
        self._answer(connection, *self._handle(bytes(connection.head[:end])))

    def _handle(self, head: bytes) -> tuple[int, bytes, str, bool]:
        """(status, body, content type, whether to send the body) for one request head."""
        lines = head.decode("latin-1").splitlines()
        parts = lines[0].split() if lines else []
        if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
            return 400, b"bad request\n", "text/plain", True
        method, target, _ = parts
        if method not in ("GET", "HEAD"):
            return 405, b"only GET and HEAD\n", "text/plain", True
        if target.partition("?")[0] == "/favicon.ico":
            return 404, b"", "text/plain", True
        accept = ""
        for line in lines[1:]:
            name, _, value = line.partition(":")
            if name.strip().lower() == "accept":
                accept = value.strip()
        try:
            body, content_type = self._render(accept)
        except Exception:  # a collector's bug must cost one scrape, never the server
            return 500, b"internal error rendering the metrics\n", "text/plain", True
        return 200, body, content_type, method == "GET"

    def _answer(
        self,
        connection: _Connection,
        status: int,
        body: bytes,
        content_type: str,
        send_body: bool = True,
    ) -> None:
        self._reading.pop(connection, None)
        data = _response(status, body, content_type, send_body)
        connection.out = memoryview(data)
        connection.deadline_s = time.monotonic() + self.limits.write_timeout_s
        self._writing[connection] = None
        self._selector.modify(connection.sock, selectors.EVENT_WRITE, connection)
        self._write(connection)

    def _write(self, connection: _Connection) -> None:
        assert connection.out is not None
        try:
            sent = connection.sock.send(connection.out)
        except BlockingIOError:
            return
        except OSError:
            self._close(connection)
            return
        connection.out = connection.out[sent:]
        if not connection.out:
            with contextlib.suppress(OSError):
                connection.sock.shutdown(socket.SHUT_WR)
            self._close(connection)


def _response(status: int, body: bytes, content_type: str, send_body: bool = True) -> bytes:
    head = (
        f"HTTP/1.1 {status} {_REASONS[status]}\r\nContent-Type: {content_type}\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n"
        + ("Allow: GET, HEAD\r\n" if status == 405 else "")
        + "\r\n"
    )
    return head.encode("latin-1") + (body if send_body else b"")
