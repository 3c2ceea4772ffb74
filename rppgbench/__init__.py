"""rppgbench: dataset preprocessing and benchmark suite for remote photoplethysmography.

Importing the package is cheap: it never imports torch, matplotlib or a face detector. Subpackages
load their heavy dependencies lazily (see ``_registry.Registry`` and the import-nesting test).
"""
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as _version

try:  # installed (editable or wheel)
    __version__ = _version("rppgbench")
except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
    __version__ = "0.0.0+unknown"

from rppgbench._logging import logger, set_log_level  # noqa: E402

__all__ = ["__version__", "logger", "set_log_level"]
