"""Shared pytest setup."""

from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    # When a Hypothesis test fails, its pytest plugin imports libcst to suggest a patch, and libcst
    # warns on import; with filterwarnings=error that turns the report into an INTERNALERROR.
    config.addinivalue_line(
        "filterwarnings", "ignore:mypy_extensions.TypedDict is deprecated:DeprecationWarning"
    )
