"""The package version as a literal, so a frozen (PyInstaller) build can report it."""

__version__ = "0.1.0"
