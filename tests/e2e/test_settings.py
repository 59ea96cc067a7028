"""The service settings reach a real server from flags, environment variables and the file."""

import requests

from tests.conftest import APPS


def _statuses(url):
    return {
        path: requests.get(url + path, timeout=5).status_code
        for path in ["docs", "openapi.json", "-/metrics", "-/ready"]
    }


def test_features_are_on_by_default_and_switch_off_by_flag(firefly_server):
    with firefly_server("funcs.square") as server:
        assert _statuses(server.url) == {
            "docs": 200,
            "openapi.json": 200,
            "-/metrics": 200,
            "-/ready": 200,
        }
    with firefly_server("funcs.square", "--no-docs", "--no-metrics") as server:
        assert _statuses(server.url) == {
            "docs": 404,
            "openapi.json": 404,
            "-/metrics": 404,
            "-/ready": 200,
        }


def test_settings_from_the_config_file_and_environment_under_gunicorn(gunicorn_server, tmp_path):
    config = tmp_path / "config.yml"
    config.write_text(
        "title: Squares\n"
        "token: abcd1234\n"
        "token_for_health: true\n"
        "functions:\n"
        "  square: {function: funcs.square}\n"
    )
    env = {"FIREFLY_CONFIG": str(config), "FIREFLY_TOKEN_FOR_METRICS": "false"}
    with gunicorn_server("firefly.main:app", env=env, cwd=APPS) as server:
        assert requests.get(server.url + "-/ready", timeout=5).status_code == 401
        ready = requests.get(
            server.url + "-/ready", headers={"Authorization": "Bearer abcd1234"}, timeout=5
        )
        assert ready.json()["title"] == "Squares"
        assert requests.get(server.url + "-/metrics", timeout=5).status_code == 200
        assert requests.get(server.url + "openapi.json", timeout=5).json()["info"]["title"] == (
            "Squares"
        )


def test_validation_switched_off_in_the_config_file(firefly_server, tmp_path):
    (tmp_path / "typed.py").write_text("def double(n: int) -> int:\n    return n * 2\n")
    config = tmp_path / "config.yml"
    config.write_text(
        "functions:\n"
        "  double: {function: typed.double}\n"
        "  loose: {function: typed.double, validate: false}\n"
    )
    with firefly_server("-c", str(config), cwd=tmp_path) as server:
        assert requests.post(server.url + "double", json={"n": "4"}, timeout=5).json() == 8
        assert requests.post(server.url + "loose", json={"n": "4"}, timeout=5).json() == "44"
        refused = requests.post(server.url + "double", json={"n": "four"}, timeout=5)
        assert refused.status_code == 422
        assert refused.json()["errors"][0]["argument"] == "n"
