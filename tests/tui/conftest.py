"""The ``make_app`` fixture: a deterministic cockpit (see cockpit.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from cockpit import MakeApp, build_app


@pytest.fixture
def make_app(tmp_path: Path) -> MakeApp:
    return lambda **kw: build_app(tmp_path, **kw)
