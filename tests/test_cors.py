"""CORS: preflights answered before the token, origins matched, headers only when configured."""

from firefly import Firefly


def test_cors_preflight_needs_no_token_and_names_the_origin():
    app = Firefly(auth_token="t", allowed_origins="https://a.example")
    app.add_route("/square", lambda n: n * n, "square")
    client = app.test_client()
    preflight = client.options(
        "/square",
        headers={
            "Origin": "https://a.example",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type",
        },
    )
    assert preflight.status_code == 204
    assert preflight.headers["Access-Control-Allow-Origin"] == "https://a.example"
    assert "POST" in preflight.headers["Access-Control-Allow-Methods"]
    assert preflight.headers["Access-Control-Allow-Headers"] == "authorization, content-type"
    call = client.post(
        "/square",
        json={"n": 3},
        headers={"Origin": "https://a.example", "Authorization": "Token t"},
    )
    assert call.json == 9
    assert call.headers["Access-Control-Allow-Origin"] == "https://a.example"
    assert call.headers["Vary"] == "Origin"
    assert call.headers["Access-Control-Expose-Headers"] == "X-Request-ID"


def test_cors_refuses_other_origins_and_allows_any_with_star():
    app = Firefly(allowed_origins=["https://a.example"])
    app.add_route("/f", lambda: 1, "f")
    client = app.test_client()
    preflight_headers = {"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"}
    assert client.options("/f", headers=preflight_headers).status_code == 403
    call = client.post("/f", headers={"Origin": "https://evil.example"})
    assert call.status_code == 200
    assert "Access-Control-Allow-Origin" not in call.headers

    star = Firefly(allowed_origins="*")
    star.add_route("/f", lambda: 1, "f")
    call = star.test_client().post("/f", headers={"Origin": "https://any.example"})
    assert call.headers["Access-Control-Allow-Origin"] == "*"


def test_no_cors_headers_unless_configured(client):
    response = client.post("/square", json={"n": 1}, headers={"Origin": "https://a.example"})
    assert "Access-Control-Allow-Origin" not in response.headers
