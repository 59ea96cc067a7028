"""The one configuration object: declared once, validated, immutable.

- :mod:`~firefly.config.settings`: :class:`Config`, each setting with its default,
  parser, environment variable and doc line;
- :mod:`~firefly.config.options`: :class:`FunctionOptions`, the per-function options;
- :mod:`~firefly.config.parsers`: the parsers both use;
- :mod:`~firefly.config.file`: the YAML config file;
- :mod:`~firefly.config.load`: :func:`load_config`, which merges flags, environment
  and file with one precedence: flag > environment variable > config file > default.
"""

from .load import CONFIG_ENV, FUNCTIONS_ENV, load_config
from .options import FunctionOptions
from .settings import Config, FunctionConfig, settings, with_settings

__all__ = [
    "CONFIG_ENV",
    "FUNCTIONS_ENV",
    "Config",
    "FunctionConfig",
    "FunctionOptions",
    "load_config",
    "settings",
    "with_settings",
]
