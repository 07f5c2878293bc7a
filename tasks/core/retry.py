"""Retry conditions for Prefect tasks: retry only failures that may pass on their own.

A feed that is down, a locked or unreachable warehouse, a full disk may recover; bad data or a bad
request never will, and retrying it only delays the clear error.
"""

from __future__ import annotations

from collections.abc import Callable

from prefect.states import State

RetryCondition = Callable[[object, object, State], bool]


def retry_on(*transient: type[BaseException]) -> RetryCondition:
    """A ``retry_condition_fn`` that retries when the task failed with one of ``transient``."""

    def condition(_task: object, _task_run: object, state: State) -> bool:
        try:
            state.result()
        except transient:
            return True
        except Exception:
            return False
        return False

    return condition
