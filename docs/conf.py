"""Sphinx configuration: ``sphinx-build -W -b html docs docs/_build/html``."""

import re
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
sys.path.insert(0, str(ROOT))  # autodoc documents the firefly of this checkout

project = "Firefly"
author = "The Firefly authors"
copyright = "the Firefly authors"
release = re.search(
    r'^__version__ = "([^"]+)"', (ROOT / "firefly" / "version.py").read_text(), re.M
).group(1)
version = ".".join(release.split(".")[:2])

extensions = ["sphinx.ext.autodoc"]
autodoc_member_order = "bysource"
autodoc_typehints = "description"

# "_name.rst" files are fragments other pages include, not pages of their own
exclude_patterns = ["_build", "_*.rst"]
html_theme = "alabaster"
html_theme_options = {"description": "Python functions and models as web APIs"}
