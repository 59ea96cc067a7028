"""X-Request-ID: echoed when safe, generated otherwise, on every response and error."""

import pytest

from firefly import Firefly


@pytest.mark.parametrize(
    ("sent", "echoed"),
    [
        ("abc-123", True),
        ("a" * 128, True),
        ("a" * 129, False),
        ("bad id", False),
        ("<script>", False),
    ],
)
def test_request_id_is_echoed_when_safe_and_generated_otherwise(client, sent, echoed):
    response = client.post("/square", json={"n": 1}, headers={"X-Request-ID": sent})
    request_id = response.headers["X-Request-ID"]
    assert (request_id == sent) is echoed
    assert len(request_id) <= 128


def test_every_response_has_a_request_id(client):
    for response in (
        client.get("/"),
        client.post("/nowhere"),
        client.post("/square", json={"n": 2}),
    ):
        assert len(response.headers["X-Request-ID"]) == 32


def test_every_error_body_carries_the_request_id():
    app = Firefly(auth_token="abcd1234")
    client = app.test_client()
    for response in [
        client.get("/"),
        client.get("/", headers={"Authorization": "Token wrong"}),
        client.get("/nope", headers={"Authorization": "Token abcd1234"}),
    ]:
        assert response.status_code in (401, 403, 404)
        assert response.json["request_id"] == response.headers["X-Request-ID"]
