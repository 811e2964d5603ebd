"""The service's version, as installed."""

from importlib.metadata import PackageNotFoundError, version

try:
    VERSION = version("mediagen")
except PackageNotFoundError:  # running from a source tree that was not installed
    VERSION = "0.0.0"
