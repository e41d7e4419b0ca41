"""Shared by every test folder. Being the top conftest.py, this file's folder goes on ``sys.path``
(pytest's default ``prepend`` import mode), so any test or helper can ``from config_kit import
write_paper_config``: the config the tests own, never the repository's config.toml.

It also registers the fixtures of bot_kit.py, the one way a test builds a bot: ``make_env``,
``env`` and ``bot`` (a bot graph built by the real factory over the paper venue)."""

from __future__ import annotations

from pathlib import Path

import pytest
from bot_kit import bot, env, make_env
from config_kit import write_paper_config

__all__ = ["bot", "env", "make_env", "paper_config_file"]


@pytest.fixture
def paper_config_file(tmp_path: Path) -> Path:
    """``tmp_path/config.toml``: the tests' own paper config (see config_kit.py)."""
    return write_paper_config(tmp_path / "config.toml")
