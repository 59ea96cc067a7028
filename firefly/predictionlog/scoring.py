"""How a logged prediction compares with its outcome: right or wrong, or off by how much.

A row's ``result`` is what the call answered: a function's value, or a model
call's list of one value per record. What is compared is the predicted value
of a single prediction: the one element of a one-record model call, the most
probable class of a ``predict_proba`` answer (``{label: probability}``), the
``label`` of an answer that carries one, or, for an answer holding one
probability (``{"proba": 0.83}``, a binary classifier's positive class), the
class it points to: 1 from 0.5 on, else 0.
"""

from __future__ import annotations

import math
from typing import Any

#: The kinds of score: labels are right or wrong, numbers are off by some amount.
ACCURACY = "accuracy"
ABSOLUTE_ERROR = "absolute_error"


def predicted_value(result: Any) -> Any:
    """The single predicted value in a logged ``result``; None when there is not one."""
    if isinstance(result, list):
        if len(result) != 1:
            return None
        result = result[0]
    if isinstance(result, dict):
        if "label" in result:
            return result["label"]
        numbers = {key: value for key, value in result.items() if _is_number(value)}
        if len(numbers) == 1 == len(result):
            (probability,) = numbers.values()
            return int(probability >= 0.5) if 0 <= probability <= 1 else None
        if numbers and len(numbers) == len(result):
            return max(numbers, key=numbers.__getitem__)  # predict_proba: the likeliest class
        return None
    return result


def score(result: Any, outcome: Any) -> tuple[str, float] | None:
    """``(kind, value)`` comparing a prediction with its outcome; None when they cannot be.

    A float prediction (a regression) and a number give an absolute error;
    anything else (a class label: an integer, a string, a boolean) equal or
    not gives an accuracy of 1 or 0, labels compared as text so that the class
    ``1`` matches the outcome ``"1"``.
    """
    predicted = predicted_value(result)
    if predicted is None or outcome is None:
        return None
    if isinstance(predicted, float) and _is_number(predicted) and _is_number(outcome):
        return ABSOLUTE_ERROR, abs(predicted - float(outcome))
    if isinstance(predicted, (dict, list)) or isinstance(outcome, (dict, list)):
        return ACCURACY, float(predicted == outcome)
    return ACCURACY, float(_label(predicted) == _label(outcome))


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _label(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
