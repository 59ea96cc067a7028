import pytest

import firefly
from firefly.errors import (
    ERRORS_BY_STATUS,
    BadRequestError,
    FireflyError,
    HTTPError,
    RemoteError,
    ValidationError,
    error_for_status,
)


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, firefly.BadRequestError),
        (401, firefly.AuthenticationError),
        (403, firefly.ForbiddenError),
        (404, firefly.NotFoundError),
        (405, firefly.MethodNotAllowedError),
        (413, firefly.PayloadTooLargeError),
        (422, firefly.ValidationError),
        (500, firefly.RemoteError),
        (503, firefly.ServiceUnavailableError),
    ],
)
def test_error_for_status_maps_each_documented_status(status, cls):
    error = error_for_status(status, "message")
    assert type(error) is cls
    assert error.status_code == status
    assert isinstance(error, FireflyError)
    assert str(error) == "message"


def test_unlisted_status_is_a_plain_http_error_with_its_code():
    error = error_for_status(418, "teapot")
    assert type(error) is HTTPError
    assert error.status_code == 418


def test_bad_request_is_also_a_value_error_for_old_callers():
    assert issubclass(BadRequestError, ValueError)
    with pytest.raises(ValueError, match="bad"):
        raise error_for_status(400, "bad")


def test_connect_and_timeout_errors_mix_in_builtins():
    assert issubclass(firefly.ConnectError, ConnectionError)
    assert issubclass(firefly.RequestTimeoutError, TimeoutError)


def test_to_dict_carries_details_and_remote_type():
    error = RemoteError("ValueError: boom", type="ValueError")
    assert error.to_dict() == {"error": "ValueError: boom", "type": "ValueError"}
    assert error.remote_type == "ValueError"


def test_every_http_error_class_is_in_the_status_table():
    listed = set(ERRORS_BY_STATUS.values())
    assert {cls for cls in HTTPError.__subclasses__()} == listed
    assert ValidationError in listed
