"""Drift of a function's inputs: the population stability index of each feature.

A logged call's ``arguments`` are a function's keyword arguments (one record)
or a model call's list of records; every record's numbers and strings are its
features. Each feature's values in a *reference* window (the older rows) are
compared with those in the *current* window (the newer ones):

- a numeric feature is cut into :data:`BINS` bins at the reference values'
  quantiles, so that each bin holds about as many reference values;
- a categorical feature (strings, or numbers mixed with strings) has one bin
  per category seen in either window.

With ``r`` and ``c`` the share of reference and current values in a bin, the
index is ``sum((c - r) * ln(c / r))``, an empty bin counting as
:data:`EPSILON`. Below :data:`MODERATE` the feature is taken as stable, from
:data:`SIGNIFICANT` on it has shifted (the usual reading of the index).
"""

from __future__ import annotations

import bisect
import math
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

#: Bins of a numeric feature: deciles of the reference window.
BINS = 10
#: The share an empty bin counts as, so that the logarithm stays finite.
EPSILON = 1e-4
#: The index from which a feature has moved somewhat, and from which it has shifted.
MODERATE = 0.1
SIGNIFICANT = 0.25
NUMERIC = "numeric"
CATEGORICAL = "categorical"


@dataclass(frozen=True)
class FeatureDrift:
    """How far one feature moved from the reference window to the current one.

    :param psi: the population stability index; None while a window has no value.
    :param level: ``stable``, ``moderate`` or ``significant`` (None with ``psi``).
    """

    name: str
    kind: str
    psi: float | None
    level: str | None
    reference_count: int
    current_count: int

    def json(self) -> dict[str, Any]:
        """The drift as the dashboard's data answers it."""
        return {
            "name": self.name,
            "kind": self.kind,
            "psi": self.psi,
            "level": self.level,
            "reference_count": self.reference_count,
            "current_count": self.current_count,
        }


def is_number(value: Any) -> bool:
    """A finite int or float; booleans are not numbers here."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def records(arguments: Any) -> Iterator[dict[str, Any]]:
    """The records of a logged call's ``arguments``: the keyword arguments, or each record."""
    if isinstance(arguments, dict):
        yield arguments
    elif isinstance(arguments, list):
        yield from (record for record in arguments if isinstance(record, dict))


def feature_values(rows_arguments: Iterable[Any]) -> dict[str, list[Any]]:
    """Each feature's values, in order, over the records of many calls' arguments."""
    values: dict[str, list[Any]] = {}
    for arguments in rows_arguments:
        for record in records(arguments):
            for name, value in record.items():
                if is_number(value) or isinstance(value, str):
                    values.setdefault(str(name), []).append(value)
    return values


def quantile(ordered: Sequence[float], q: float) -> float:
    """The ``q`` quantile (0 to 1) of sorted values, interpolated linearly between ranks."""
    position = (len(ordered) - 1) * q
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def index(reference: Sequence[float], current: Sequence[float]) -> float:
    """The population stability index of two lists of bin shares, bin by bin."""
    total = 0.0
    for r, c in zip(reference, current, strict=True):
        r, c = max(r, EPSILON), max(c, EPSILON)
        total += (c - r) * math.log(c / r)
    return total


def shares(counts: Sequence[int]) -> list[float]:
    """Counts as shares of their sum."""
    total = sum(counts)
    return [count / total for count in counts]


def numeric_psi(reference: Sequence[float], current: Sequence[float], bins: int = BINS) -> float:
    """The index of numeric values, binned at the reference values' quantiles.

    Bins are ``(-inf, e1], (e1, e2], ..., (ek, inf)``; a repeated quantile
    makes one edge, so a feature with few distinct values gets fewer bins.
    """
    ordered = sorted(reference)
    edges = sorted({quantile(ordered, k / bins) for k in range(1, bins)})

    def counts(values: Iterable[float]) -> list[int]:
        found = [0] * (len(edges) + 1)
        for value in values:
            found[bisect.bisect_left(edges, value)] += 1
        return found

    return index(shares(counts(reference)), shares(counts(current)))


def categorical_psi(reference: Sequence[Any], current: Sequence[Any]) -> float:
    """The index of categories: one bin per value seen in either window."""
    reference_counts, current_counts = Counter(reference), Counter(current)
    categories = list(reference_counts | current_counts)
    return index(
        shares([reference_counts[c] for c in categories]),
        shares([current_counts[c] for c in categories]),
    )


def level(psi: float) -> str:
    """``stable`` below :data:`MODERATE`, ``significant`` from :data:`SIGNIFICANT`, between
    them ``moderate``."""
    if psi < MODERATE:
        return "stable"
    return "moderate" if psi < SIGNIFICANT else "significant"


def feature_drift(name: str, reference: Sequence[Any], current: Sequence[Any]) -> FeatureDrift:
    """The drift of one feature; numbers mixed with strings are taken as categories."""
    numeric = all(is_number(value) for value in (*reference, *current))
    psi: float | None = None
    if reference and current:
        if numeric:
            psi = numeric_psi(reference, current)
        else:
            psi = categorical_psi([str(v) for v in reference], [str(v) for v in current])
    return FeatureDrift(
        name=name,
        kind=NUMERIC if numeric else CATEGORICAL,
        psi=None if psi is None else round(psi, 6),
        level=None if psi is None else level(psi),
        reference_count=len(reference),
        current_count=len(current),
    )


def drift(reference: Iterable[Any], current: Iterable[Any]) -> list[FeatureDrift]:
    """Every feature's drift between two windows of calls' ``arguments``, by feature name."""
    reference_values, current_values = feature_values(reference), feature_values(current)
    names = sorted(reference_values.keys() | current_values.keys())
    return [
        feature_drift(name, reference_values.get(name, []), current_values.get(name, []))
        for name in names
    ]
