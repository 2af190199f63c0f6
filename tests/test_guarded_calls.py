"""GuardedCalls: bound calls (what a device binds at open) behave as the plain ones do."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from gpuscope.telemetry.guarded_calls import CallFailure, GuardedCalls
from gpuscope.telemetry.model import DeviceLost


class LibraryError(Exception):
    def __init__(self, failure: CallFailure) -> None:
        super().__init__(failure.value)
        self.failure = failure


def classify(exc: Exception) -> CallFailure | None:
    return exc.failure if isinstance(exc, LibraryError) else None


def scripted(*outcomes: Any) -> tuple[Callable[[], Any], list[int]]:
    """A call that returns or raises each outcome in turn, and counts its calls."""
    calls = [0]

    def call() -> Any:
        outcome = outcomes[min(calls[0], len(outcomes) - 1)]
        calls[0] += 1
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    return call, calls


def test_a_bound_call_that_is_unsupported_is_never_made_again() -> None:
    guarded = GuardedCalls(classify)
    fn, calls = scripted(LibraryError(CallFailure.UNSUPPORTED), 42)
    bound = guarded.bind("fan", fn)
    assert [bound(), bound(), guarded("fan", fn)] == [None, None, None]
    assert calls == [1] and "fan" in guarded.unsupported


def test_a_bound_call_that_fails_transiently_is_none_once_then_asked_again() -> None:
    guarded = GuardedCalls(classify)
    fn, calls = scripted(LibraryError(CallFailure.TRANSIENT), 42)
    bound = guarded.bind("power", fn)
    assert [bound(), bound()] == [None, 42] and calls == [2]


def test_a_bound_call_on_a_lost_device_raises_and_a_bug_is_not_hidden() -> None:
    guarded = GuardedCalls(classify)
    lost, _ = scripted(LibraryError(CallFailure.LOST))
    with pytest.raises(DeviceLost, match="clock: lost"):
        guarded.bind("clock", lost)()
    bug, _ = scripted(ZeroDivisionError("a bug"))
    with pytest.raises(ZeroDivisionError):
        guarded.bind("clock", bug)()


def test_bound_arguments_are_passed_and_first_of_falls_back_for_good() -> None:
    guarded = GuardedCalls(classify)
    newer, newer_calls = scripted(LibraryError(CallFailure.UNSUPPORTED))
    first = guarded.bind_first_of(("newer", newer, ()), ("older", lambda a, b: a + b, (40, 2)))
    assert [first(), first()] == [42, 42] and newer_calls == [1]
