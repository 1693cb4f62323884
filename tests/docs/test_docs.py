"""Docs that cannot drift from the code: settings, error codes, CLI commands."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

from atomo import errors
from atomo.config import REGISTRY, Settings, settings_markdown

ROOT = Path(__file__).resolve().parents[2]


def test_configuration_doc_is_generated_from_the_registry() -> None:
    assert (ROOT / "docs" / "configuration.md").read_text() == settings_markdown(), \
        "run: python -m atomo.config > docs/configuration.md"


def test_every_setting_has_an_attribute_and_help() -> None:
    attrs = {f.name for f in fields(Settings)}
    for s in REGISTRY:
        assert s.attr in attrs and s.help, s.env
    assert len({s.env for s in REGISTRY}) == len(REGISTRY)


def test_every_error_code_is_documented() -> None:
    doc = (ROOT / "docs" / "errors.md").read_text()
    codes = {cls.code for cls in vars(errors).values()
             if isinstance(cls, type) and issubclass(cls, errors.AtomoError)}
    for code in codes:
        assert f"`{code}`" in doc, code


def test_every_schema_diagnostic_code_is_documented_with_its_severity() -> None:
    from atomo.schema.model import SEVERITY
    doc = (ROOT / "docs" / "errors.md").read_text()
    for code, severity in SEVERITY.items():
        assert f"| `{code}` | {severity} |" in doc, code
