"""The public surface of ``firefly`` and what importing it costs."""

import subprocess
import sys
import types

import pytest

import firefly


def test_public_names_are_declared_once_in_all():
    public = {
        name
        for name, value in vars(firefly).items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType)
    } - {"annotations", "Any", "TYPE_CHECKING"}  # the module's own typing imports
    public |= {"Firefly", "create_app"}  # imported on first use: see the lazy import test
    assert set(firefly.__all__) - {"__version__"} == public
    for name in ["Client", "Firefly", "FireflyError", "ValidationError", "__version__"]:
        assert name in firefly.__all__


def test_import_firefly_stays_light_and_configures_no_logging():
    code = (
        "import logging, sys; before = list(logging.root.handlers); import firefly;"
        "firefly.Client; firefly.FireflyError;"
        "heavy = [m for m in ('flask', 'werkzeug', 'gunicorn', 'yaml', 'numpy', 'pandas',"
        " 'sklearn', 'pydantic', 'prometheus_client', 'swagger_ui', 'firefly.app',"
        " 'firefly.main', 'firefly.cli') if m in sys.modules];"
        "print(heavy, logging.root.handlers == before)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[] True"


def test_firefly_and_create_app_are_imported_on_first_use():
    code = (
        "import sys, firefly; before = 'flask' in sys.modules; app = firefly.Firefly();"
        "print(before, 'flask' in sys.modules, type(app).__module__, firefly.create_app.__module__)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.split() == ["False", "True", "firefly.app", "firefly.app"]
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        firefly.nothing  # noqa: B018


def test_importing_firefly_main_builds_nothing_until_app_is_read():
    code = (
        "import os; os.environ['FIREFLY_FUNCTIONS'] = 'nosuch.f'; import firefly.main; print('ok')"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "ok"


def test_python_dash_m_firefly_runs_the_cli():
    result = subprocess.run(
        [sys.executable, "-m", "firefly", "--version"], capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 0
    assert result.stdout.strip() == f"firefly {firefly.__version__}"
