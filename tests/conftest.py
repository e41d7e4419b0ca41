"""Shared by every test folder. Being the top conftest.py, this file's folder goes on ``sys.path``
(pytest's default ``prepend`` import mode), so any test or helper can ``from config_kit import
write_paper_config``: the config the tests own, never the repository's config.toml."""

from __future__ import annotations

from pathlib import Path

import pytest
from config_kit import write_paper_config


@pytest.fixture
def paper_config_file(tmp_path: Path) -> Path:
    """``tmp_path/config.toml``: the tests' own paper config (see config_kit.py)."""
    return write_paper_config(tmp_path / "config.toml")
