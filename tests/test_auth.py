"""Token authorization: 401 without a token, 403 with a wrong one, before the function runs."""

import pytest

from firefly import Firefly


@pytest.fixture
def secured():
    counter = []
    app = Firefly(auth_token="abcd1234")

    @app.function
    def square(n):
        counter.append(n)
        return n**2

    return app.test_client(), counter


@pytest.mark.parametrize(
    ("header", "status"),
    [
        (None, 401),
        ("Token wrong", 403),
        ("Bearer wrong", 403),
        ("Token abcd12345", 403),
        ("Basic abcd1234", 401),
        ("Token", 401),
    ],
)
def test_requests_without_the_right_token_are_refused_before_the_call(secured, header, status):
    client, counter = secured
    headers = {"Authorization": header} if header else {}
    response = client.post("/square", json={"n": 4}, headers=headers)
    assert response.status_code == status
    assert "error" in response.json
    assert counter == []
    assert client.get("/", headers=headers).status_code == status
    if status == 401:
        assert response.headers["WWW-Authenticate"].startswith("Token")


@pytest.mark.parametrize("header", ["Token abcd1234", "Bearer abcd1234", "token abcd1234"])
def test_token_and_bearer_schemes_are_accepted(secured, header):
    client, counter = secured
    response = client.post("/square", json={"n": 4}, headers={"Authorization": header})
    assert response.json == 16
    assert counter == [4]
