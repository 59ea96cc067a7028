"""The public surface of ``firefly`` and what importing it costs."""

import subprocess
import sys
import types

import firefly


def test_public_names_are_declared_once_in_all():
    public = {
        name
        for name, value in vars(firefly).items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType)
    }
    assert set(firefly.__all__) - {"__version__"} == public
    for name in ["Client", "Firefly", "FireflyError", "ValidationError", "__version__"]:
        assert name in firefly.__all__


def test_import_firefly_stays_light_and_configures_no_logging():
    code = (
        "import logging, sys; before = list(logging.root.handlers); import firefly;"
        "heavy = [m for m in ('gunicorn', 'numpy', 'pandas', 'sklearn', 'pydantic',"
        " 'prometheus_client', 'swagger_ui', 'firefly.main',"
        " 'firefly.cli') if m in sys.modules];"
        "print(heavy, logging.root.handlers == before)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[] True"


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
