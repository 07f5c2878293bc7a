"""Errors a request can earn and the station directory: what people type -> which stations.

Split from ``lookup`` (the forecast index), which re-exports these names.
"""

from __future__ import annotations

import difflib
import re
import threading
import time
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import orjson


class InputError(Exception):
    """A request the package cannot answer; ``payload`` says what to change.  Always a 4xx."""

    status = 422

    def __init__(self, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.message = message
        self.extra = extra

    def payload(self) -> dict[str, Any]:
        return {"error": self.message, **self.extra}

    def body(self) -> bytes:
        return orjson.dumps(self.payload())


class UnknownStation(InputError):
    pass


class OutOfRange(InputError):
    pass


# --------------------------------------------------------------------------------------------------
# stations


@dataclass(frozen=True, slots=True)
class Station:
    code: int
    name: str
    name_en: str
    line: str

    @property
    def label(self) -> str:
        return f"{self.name} / {self.name_en} ({self.code}, {self.line})"


_SEPARATORS = re.compile(r"[\s\-_.'’·]+")
_PARENS = re.compile(r"\(.*?\)")
_SUFFIXES = ("역", "station", "stn")
SUGGEST_MIN_RATIO = 0.6
"""How similar (difflib ratio) a name must be to a station's to be suggested."""
SUGGEST_BUDGET_S = 0.05
"""Seconds of suggestion work allowed per second (5 % of the worker), refilled continuously."""


def normalize(text: str) -> str:
    """Case-, width- and separator-insensitive key: 'Seong-su', ' SEONGSU ' and 'seongsu' match."""
    return _SEPARATORS.sub("", unicodedata.normalize("NFKC", text).casefold())


class StationDirectory:
    """Resolves what people type (code, Korean or English name) to stations; suggests near misses.

    A name can mean several stations: transfer stations have one code per line (건대입구: 212 and 2729),
    and all of them are returned.  Names like 천호(풍납토성) are also reachable without the
    parenthesised part, and a trailing 역 / 'station' is ignored.
    """

    def __init__(self, stations: Iterable[Station], clock: Callable[[], float] = time.perf_counter) -> None:
        keys: dict[str, list[Station]] = {}
        for st in stations:
            names = {str(st.code), st.name, st.name_en, _PARENS.sub("", st.name), _PARENS.sub("", st.name_en)}
            for name in names:
                key = normalize(name)
                if key and st not in keys.setdefault(key, []):
                    keys[key].append(st)
        self._by_key = {k: tuple(sorted(v, key=lambda s: s.code)) for k, v in keys.items()}
        # Suggestion index, built once: one matcher per key with the key's own tables precomputed
        # (difflib caches everything about its second sequence), and the longest query that can
        # still reach SUGGEST_MIN_RATIO against the longest key (ratio <= 2*min/(la+lb)).
        self._matchers = [(k, difflib.SequenceMatcher(None, "", k)) for k in self._by_key]
        longest = max((len(k) for k in self._by_key), default=0)
        self._max_query = int(longest * (2 / SUGGEST_MIN_RATIO - 1))
        self._suggest_lock = threading.Lock()
        self._clock = clock
        self._budget_s = SUGGEST_BUDGET_S
        self._budget_at = clock()

    def resolve(self, ref: str) -> tuple[Station, ...]:
        key = normalize(ref)
        hit = self._by_key.get(key)
        if hit is None:
            for suffix in _SUFFIXES:
                if key.endswith(suffix) and len(key) > len(suffix):
                    hit = self._by_key.get(key[: -len(suffix)])
                    if hit:
                        break
        if hit:
            return hit
        suggestions = self.suggest(ref)
        hint = f"; did you mean {suggestions[0]}?" if suggestions else ""
        raise UnknownStation(
            f"unknown station {ref!r}: give a station code ('211'), a Korean name ('성수') or an "
            f"English name ('Seongsu'){hint}",
            suggestions=suggestions,
        )

    def suggest(self, ref: str, n: int = 5) -> list[str]:
        """Labels of up to ``n`` stations whose code or name is close to ``ref``.

        Bounded cost whatever the input (it runs on the event loop): a query too long to be close
        to any key is answered without scoring, a key is scored only when difflib's cheap upper
        bounds (lengths, then character counts) can still reach ``SUGGEST_MIN_RATIO``, and all
        suggestions together may use at most ``SUGGEST_BUDGET_S`` of CPU per second -- beyond that
        (a client sending typos in a loop) the answer comes without suggestions.
        """
        key = normalize(ref)
        if not key or len(key) > self._max_query:
            return []
        scored: list[tuple[float, str]] = []
        with self._suggest_lock:  # the matchers and the budget are shared: one query at a time
            now = self._clock()
            self._budget_s = min(
                SUGGEST_BUDGET_S, self._budget_s + (now - self._budget_at) * SUGGEST_BUDGET_S
            )
            if self._budget_s <= 0:
                return []  # over budget: the 422 still names the problem, without suggestions
            for k, matcher in self._matchers:
                matcher.set_seq1(key)
                if (
                    matcher.real_quick_ratio() >= SUGGEST_MIN_RATIO
                    and matcher.quick_ratio() >= SUGGEST_MIN_RATIO
                ):
                    scored.append((matcher.ratio(), k))
            self._budget_at = self._clock()
            self._budget_s -= self._budget_at - now
        scored.sort(reverse=True)
        best = scored[0][0] if scored else 0.0
        out: list[str] = []
        # close matches only: a clear winner ('seongsoo' -> 'seongsu' 0.8) should not come with
        # a tail of barely similar names ('sicheong' 0.5)
        for ratio, match in scored[: 3 * n]:
            if ratio < SUGGEST_MIN_RATIO or ratio < best - 0.1:
                break
            for st in self._by_key[match]:
                if st.label not in out:
                    out.append(st.label)
        return out[:n]
