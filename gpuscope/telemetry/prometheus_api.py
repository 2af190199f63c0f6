"""Instant queries of an existing Prometheus's HTTP API (``GET /api/v1/query?query=...``): each
answer bounded in size and time (``remote_fetch.http_get``), and every way it can fail said in
one line (unreachable, HTTP error, not JSON, not a Prometheus answer).

Prometheus answers a vector query as
``{"status":"success","data":{"resultType":"vector","result":[{"metric":{...},"value":[ts,"1.5"]}]}}``;
only that shape is taken. No UI import: ``gpuscope jobs --prometheus`` is its caller.
"""

from __future__ import annotations

import http.client
import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlencode

from gpuscope.bounded_read import size_text
from gpuscope.safe_text import one_line
from gpuscope.telemetry.job_owner import LABEL_MAX  # a label value kept: as long as ours
from gpuscope.telemetry.remote_fetch import (
    AnswerTooLarge,
    FetchError,
    describe_fetch_error,
    http_get,
    http_url,
)

QUERY_DEADLINE_S = 10.0  # one query, lookup to last byte: a busy Prometheus answers in < 1 s
TOTAL_DEADLINE_S = 20.0  # every query of one command together
ANSWER_MAX_BYTES = 32 << 20  # ~100k series of (job, user, host, device): past any cluster's jobs

Fetch = Callable[[str, float, int], str]  # (url, deadline_s, max_bytes) -> body


class PrometheusError(Exception):
    """A query that got no usable answer; the message is one line naming the URL."""


@dataclass(frozen=True, slots=True)
class Series:
    """One element of an instant vector: its labels and its value (NaN never kept)."""

    labels: dict[str, str]
    value: float


def check_base_url(text: str) -> str:
    """``http://prom:9090`` (or with a path prefix, ``https://host/prometheus/``) as the base
    every query is appended to; ValueError with a one-line reason otherwise."""
    parts = http_url(text, "--prometheus")
    if parts.query or parts.fragment:
        raise ValueError(f"--prometheus: give the server's URL, without ?query: {one_line(text)!r}")
    return f"{parts.scheme}://{parts.netloc}{parts.path.rstrip('/')}"


class PrometheusApi:
    """The instant queries of one Prometheus server, all of them within ``total_s`` (a server
    that answers each query slowly costs that long, not ten queries' deadlines); ``fetch`` is
    injectable for tests."""

    def __init__(
        self,
        base_url: str,
        deadline_s: float = QUERY_DEADLINE_S,
        total_s: float = TOTAL_DEADLINE_S,
        fetch: Fetch = http_get,
    ) -> None:
        self.base_url = base_url
        self._deadline_s = deadline_s
        self._ends_at = time.monotonic() + total_s
        self._total_s = total_s
        self._fetch = fetch

    def vector(self, query: str) -> list[Series]:
        """The instant vector ``query`` evaluates to now; PrometheusError otherwise (a scalar
        or matrix answer too: every query gpuscope asks is a vector)."""
        url = f"{self.base_url}/api/v1/query?{urlencode({'query': query})}"
        where = one_line(self.base_url, 200)
        left_s = min(self._deadline_s, self._ends_at - time.monotonic())
        if left_s <= 0:
            raise PrometheusError(f"{where}: no whole answer within {self._total_s:g} s")
        try:
            body = self._fetch(url, left_s, ANSWER_MAX_BYTES)
        except Exception as exc:  # every failure of the request: one line
            raise PrometheusError(f"{where}: {_failure(exc)}") from None
        return parse_vector(body, where)


def _failure(exc: BaseException) -> str:
    """What went wrong with one request, in words for someone who expected a Prometheus."""
    if isinstance(exc, AnswerTooLarge):
        return f"answer over {size_text(ANSWER_MAX_BYTES)}: refused (not a Prometheus answer)"
    if isinstance(exc, FetchError | http.client.HTTPException):
        return describe_fetch_error(exc)  # HTTP 500 ..., no whole answer within 10 s
    if isinstance(exc, OSError):
        return f"unreachable: {describe_fetch_error(exc)}"
    return describe_fetch_error(exc)


def parse_vector(body: str, where: str) -> list[Series]:
    """The series of a ``/api/v1/query`` answer; PrometheusError saying what it was instead."""
    try:
        answer = json.loads(body)
    except (ValueError, RecursionError):
        raise PrometheusError(f"{where}: the answer is not JSON: not a Prometheus API") from None
    if not isinstance(answer, dict) or "status" not in answer:
        raise PrometheusError(f"{where}: not a Prometheus API answer (no status)")
    if answer["status"] != "success":
        why = answer.get("error") if isinstance(answer.get("error"), str) else "no reason given"
        raise PrometheusError(f"{where}: Prometheus refused the query: {one_line(str(why))}")
    data = answer.get("data")
    if not isinstance(data, dict) or not isinstance(data.get("result"), list):
        raise PrometheusError(f"{where}: not a Prometheus API answer (no data.result)")
    if data.get("resultType") != "vector":
        kind = one_line(str(data.get("resultType")), 40)
        raise PrometheusError(f"{where}: a {kind} answer where a vector was asked for")
    found = []
    for element in data["result"]:
        series = _series(element)
        if series is None:
            raise PrometheusError(f"{where}: not a Prometheus API answer (a malformed series)")
        if not math.isnan(series.value):
            found.append(series)
    return found


def _series(element: object) -> Series | None:
    if not isinstance(element, dict):
        return None
    metric, value = element.get("metric"), element.get("value")
    if not isinstance(metric, dict) or not isinstance(value, list) or len(value) != 2:
        return None
    try:
        number = float(value[1])  # Prometheus sends the sample as a string: "123.4", "NaN"
    except (TypeError, ValueError):
        return None
    labels = {
        one_line(str(key), LABEL_MAX): one_line(str(text), LABEL_MAX)
        for key, text in metric.items()
    }
    return Series(labels, number)
