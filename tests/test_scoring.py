"""How a logged prediction is compared with its outcome (firefly.predictionlog.scoring)."""

import pytest

from firefly.predictionlog.scoring import ABSOLUTE_ERROR, ACCURACY, predicted_value, score


@pytest.mark.parametrize(
    ("result", "predicted"),
    [
        (1, 1),
        ("yes", "yes"),
        ([0], 0),  # a one-record model call
        ([0, 1], None),  # several records: no single prediction
        ({"0": 0.2, "1": 0.8}, "1"),  # predict_proba: the likeliest class
        ({"label": "cat", "score": 0.9}, "cat"),
        ({"proba": 0.83}, 1),  # one probability: the positive class from 0.5 on
        ({"proba": 0.2}, 0),
        ({"proba": 3.5}, None),  # one number that is no probability
        ({"a": "x"}, None),
        (None, None),
    ],
)
def test_the_predicted_value(result, predicted):
    assert predicted_value(result) == predicted


@pytest.mark.parametrize(
    ("result", "outcome", "expected"),
    [
        (1, 1, (ACCURACY, 1.0)),
        (1, "1", (ACCURACY, 1.0)),  # labels compare as text
        (True, "true", (ACCURACY, 1.0)),
        ([{"0": 0.9, "1": 0.1}], 1, (ACCURACY, 0.0)),
        ({"proba": 0.7}, 1, (ACCURACY, 1.0)),
        (2.5, 3, (ABSOLUTE_ERROR, 0.5)),  # a float prediction is a regression
        ([110.0], 100.0, (ABSOLUTE_ERROR, 10.0)),
        (3, 4, (ACCURACY, 0.0)),  # an integer is a class
        ({"a": 1, "b": "x"}, 1, None),
        (1, None, None),  # no outcome
    ],
)
def test_the_score(result, outcome, expected):
    assert score(result, outcome) == expected
