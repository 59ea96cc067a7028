import pytest

from firefly import Firefly


def test_app_is_built_from_the_environment_on_first_access(monkeypatch):
    import firefly.main

    monkeypatch.setenv("FIREFLY_FUNCTIONS", "tests.apps.funcs.square,tests.apps.funcs.cube")
    monkeypatch.setenv("FIREFLY_TOKEN", "abcd1234")
    monkeypatch.delitem(vars(firefly.main), "app", raising=False)
    app = firefly.main.app
    assert isinstance(app, Firefly)
    assert firefly.main.app is app  # built once
    client = app.test_client()
    headers = {"Authorization": "Token abcd1234"}
    assert client.post("/cube", json={"n": 2}, headers=headers).json == 8
    assert client.post("/cube", json={"n": 2}).status_code == 401
    monkeypatch.delitem(vars(firefly.main), "app")


def test_environment_errors_are_one_line_for_gunicorn(monkeypatch):
    import firefly.main

    monkeypatch.setenv("FIREFLY_FUNCTIONS", "nosuch.f")
    with pytest.raises(firefly.main.AppConfigError, match=r"^firefly: cannot load 'nosuch\.f'"):
        firefly.main.app_from_environment()
    monkeypatch.setenv("FIREFLY_WORKERS", "none")
    with pytest.raises(firefly.main.AppConfigError, match="FIREFLY_WORKERS"):
        firefly.main.app_from_environment()


def test_other_attributes_are_missing():
    import firefly.main

    with pytest.raises(AttributeError):
        firefly.main.nothing  # noqa: B018
