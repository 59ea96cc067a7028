"""Packaging for firefly-python: the ``firefly`` package and command."""

import re
from pathlib import Path

from setuptools import find_packages, setup

HERE = Path(__file__).parent
VERSION = re.search(
    r'^__version__ = "([^"]+)"', (HERE / "firefly" / "version.py").read_text(), re.M
).group(1)

TEST_REQUIRES = [
    "pytest>=8",
    "pytest-timeout>=2.3",
    "numpy>=1.24",
    "pandas>=2.0",
    "scikit-learn>=1.3",
    "joblib>=1.3",
    "openapi-spec-validator>=0.7",
    "jsonschema>=4.18",
    "schemathesis>=4.0",
    "hypothesis>=6.100",
    "playwright>=1.40",
    "docutils>=0.20",  # tests/test_docs.py checks that README.rst is valid reStructuredText
    "granian[reload]>=2.5",  # the end-to-end tests run the firefly command on each server
    "onnxruntime>=1.17",
    "skl2onnx>=1.16",
    "skops>=0.10",  # .skops model files
    "tritonclient[http]>=2.40",  # the client of the V2 protocol's end-to-end tests
    "psycopg[binary]>=3.1",  # the prediction log's tests on PostgreSQL
    "rq>=3.0",  # the executions' tests on Redis
]
#: Serving models from files (firefly --models): records to DataFrames, joblib and skops files.
MODELS_REQUIRES = ["pandas>=2.0", "numpy>=1.24", "joblib>=1.3", "scikit-learn>=1.3", "skops>=0.10"]
#: .onnx files on onnxruntime, and firefly train --onnx (skl2onnx).
ONNX_REQUIRES = MODELS_REQUIRES + ["onnxruntime>=1.17", "skl2onnx>=1.16"]
#: The prediction log on PostgreSQL (postgresql+psycopg:// URLs).
POSTGRES_REQUIRES = ["psycopg[binary]>=3.1"]
#: Executions on Redis, run by firefly worker (RQ brings redis).
REDIS_REQUIRES = ["rq>=3.0"]
GRANIAN_REQUIRES = ["granian[reload]>=2.5"]  # [reload]: watchfiles, for --reload
LINT_REQUIRES = ["ruff>=0.6", "mypy>=1.10", "types-PyYAML", "types-requests"]
DOCS_REQUIRES = ["sphinx>=7"]

setup(
    name="firefly-python",
    version=VERSION,
    description="Serve Python functions and machine-learning models as web APIs",
    long_description=(HERE / "README.rst").read_text(),
    long_description_content_type="text/x-rst",
    packages=find_packages(include=["firefly", "firefly.*"]),
    package_data={
        "firefly": ["py.typed"],
        "firefly.predictionlog": [
            "migrations/*.py",
            "migrations/*.mako",
            "migrations/versions/*.py",
            "static/*",
        ],
        "firefly.executions": ["migrations/*.py", "migrations/*.mako", "migrations/versions/*.py"],
    },
    python_requires=">=3.10",
    install_requires=[
        "flask>=3.0",
        "gunicorn>=22.0",
        "pyyaml>=6.0",
        "requests>=2.31",
        "click>=8.1",
        "click-default-group>=1.2.4",
        "orjson>=3.9",
        "pydantic>=2.12",
        "prometheus-client>=0.20",
        "swagger-ui-py>=23.9",
        "rich>=13",  # firefly train's and firefly log export's progress on a terminal
        "sqlalchemy>=2.0",  # the prediction log's database
        "alembic>=1.13",  # and its migrations
    ],
    extras_require={
        "granian": GRANIAN_REQUIRES,
        "postgres": POSTGRES_REQUIRES,
        "redis": REDIS_REQUIRES,
        "models": MODELS_REQUIRES,
        "onnx": ONNX_REQUIRES,
        "test": TEST_REQUIRES,
        "lint": LINT_REQUIRES,
        "docs": DOCS_REQUIRES,
        "dev": TEST_REQUIRES + LINT_REQUIRES + DOCS_REQUIRES,
    },
    entry_points={"console_scripts": ["firefly = firefly.cli:main"]},
    classifiers=[
        "Programming Language :: Python :: 3",
        "Framework :: Flask",
        "Topic :: Internet :: WWW/HTTP :: WSGI :: Application",
    ],
)
