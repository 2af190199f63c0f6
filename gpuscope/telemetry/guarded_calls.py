"""One device's library calls, made safe and cheap to repeat on the sampler's hot path.

Every vendor module reads metrics through a ``GuardedCalls``: a call that says "not supported" is
remembered and never made again (its metric stays ``None``), a call that says "device lost" raises
``DeviceLost``, anything transient yields ``None`` for this sample only. ``every`` additionally
limits how often a call is made, so that nothing is read faster than the hardware updates it.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from typing import Any

from gpuscope.telemetry.model import DeviceLost


class CallFailure(enum.Enum):
    """How a vendor module classifies an exception from its library."""

    UNSUPPORTED = "unsupported"  # will never work on this device: stop asking
    LOST = "lost"  # the device is gone
    TRANSIENT = "transient"  # try again next sample


Classifier = Callable[
    [Exception], "CallFailure | None"
]  # None: not a library error, a bug: re-raise


class GuardedCalls:
    """Makes library calls for one device, remembering the unsupported ones."""

    def __init__(self, classify: Classifier) -> None:
        self._classify = classify
        self.unsupported: set[str] = set()
        self._cached: dict[str, tuple[float, Any]] = {}

    def __call__(self, key: str, fn: Callable[..., Any], *args: Any) -> Any:
        """``fn(*args)``, or None if ``key`` is unsupported or failed transiently."""
        if key in self.unsupported:
            return None
        try:
            return fn(*args)
        except Exception as exc:
            return self._failed(key, exc)

    def bind(self, key: str, fn: Callable[..., Any], *args: Any) -> Callable[[], Any]:
        """``self(key, fn, *args)`` as a callable made once: a device that makes the same call
        at every read binds it at open, and a read then pays for the call and the guard only."""
        unsupported = self.unsupported

        def call() -> Any:
            if key in unsupported:
                return None
            try:
                return fn(*args)
            except Exception as exc:
                return self._failed(key, exc)

        return call

    def _failed(self, key: str, exc: Exception) -> None:
        """Classify ``exc`` from the call for ``key``: raise if a bug or the device is lost,
        remember ``key`` if unsupported; None for this sample."""
        failure = self._classify(exc)
        if failure is None:
            raise exc
        if failure is CallFailure.LOST:
            raise DeviceLost(f"{key}: {exc}") from exc
        if failure is CallFailure.UNSUPPORTED:
            self.unsupported.add(key)
        return None

    def every(
        self, key: str, period_s: float, now_s: float, fn: Callable[..., Any], *args: Any
    ) -> Any:
        """Like calling, but reuse the last value if it is younger than ``period_s``.

        For readings the hardware refreshes at a fixed rate (NVML power and energy: every 100 ms
        on the H100), asking more often costs time and returns the same number.
        """
        cached = self._cached.get(key)
        # 5 % slack: a sampler running at exactly the hardware rate must not skip every other
        # update because its timer fired a millisecond early.
        if cached is not None and now_s - cached[0] < period_s * 0.95:
            return cached[1]
        value = self(key, fn, *args)
        self._cached[key] = (now_s, value)
        return value

    def read_at(self, key: str) -> float | None:
        """When ``every`` last made the call for ``key`` (its ``now_s``); None: never. A value
        read at an earlier ``now_s`` than the current one is carried, not fresh."""
        cached = self._cached.get(key)
        return cached[0] if cached is not None else None

    def first_of(self, *attempts: tuple[str, Callable[..., Any], tuple[Any, ...]]) -> Any:
        """The first non-None of several ``(key, fn, args)`` ways to read one metric.

        For metrics with a newer and an older call, or several sensors: once a way says
        "unsupported" it is skipped for good, so the fallback costs nothing after the first read.
        """
        for key, fn, args in attempts:
            value = self(key, fn, *args)
            if value is not None:
                return value
        return None

    def bind_first_of(
        self, *attempts: tuple[str, Callable[..., Any], tuple[Any, ...]]
    ) -> Callable[[], Any]:
        """``self.first_of(*attempts)`` as a callable made once (see ``bind``)."""
        ways = [self.bind(key, fn, *args) for key, fn, args in attempts]

        def first() -> Any:
            for way in ways:
                value = way()
                if value is not None:
                    return value
            return None

        return first
