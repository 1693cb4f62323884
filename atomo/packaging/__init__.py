"""Packaging of the `atomo-server` executable: the PyInstaller spec and its entry script ship here so that
`atomo build` works from an installed copy; `build/pyinstaller.spec` in the source tree runs this spec."""

from __future__ import annotations

from pathlib import Path

SPEC = Path(__file__).resolve().parent / "pyinstaller.spec"
ENTRY = Path(__file__).resolve().parent / "atomo_server.py"
