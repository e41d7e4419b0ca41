"""Shared by every test folder. Being the top conftest.py, this file's folder goes on ``sys.path``
(pytest's default ``prepend`` import mode), so any test or helper can ``from config_kit import
write_paper_config``: the config the tests own, never the repository's config.toml.

It also registers the fixtures of bot_kit.py, the one way a test builds a bot: ``make_env``,
``env`` and ``bot`` (a bot graph built by the real factory over the paper venue), and puts the
logging set-up back after every test: a test that runs the CLI installs the project's handler
and level on the root logger, and a later test reading ``caplog`` must not depend on that."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from bot_kit import bot, env, make_env
from config_kit import write_paper_config

__all__ = ["bot", "env", "make_env", "paper_config_file"]


@pytest.fixture
def paper_config_file(tmp_path: Path) -> Path:
    """``tmp_path/config.toml``: the tests' own paper config (see config_kit.py)."""
    return write_paper_config(tmp_path / "config.toml")


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    levels = {name: logging.getLogger(name).level for name in logging.root.manager.loggerDict}
    yield
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(level)
    for name, saved in levels.items():
        logging.getLogger(name).setLevel(saved)
