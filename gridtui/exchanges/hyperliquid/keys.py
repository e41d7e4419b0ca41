"""Loading the agent wallet's private key: from the environment or a private key file only.

The key is never read from config.toml (configs get shared and committed). A key file must be
readable by its owner alone, as ssh insists for its keys. Every error is one line that names
where the key was looked for and never quotes what was found there.
"""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Mapping
from pathlib import Path

from gridtui.exchanges.hyperliquid.signing import Signer

log = logging.getLogger(__name__)

ENV_VAR = "GRIDTUI_HL_KEY"


class KeyLoadError(ValueError):
    """The agent key could not be loaded; the message is one line, safe to show the user."""


def load_agent_key(*, env: Mapping[str, str] = os.environ, key_file: Path | None = None) -> Signer:
    """The agent wallet from ``GRIDTUI_HL_KEY`` if set, else from ``key_file`` (mode 0600)."""
    from_env = env.get(ENV_VAR, "").strip()
    if from_env:
        try:
            return Signer.from_key(from_env)
        except ValueError:
            raise KeyLoadError(
                f"{ENV_VAR} does not hold a valid private key (64 hex digits)"
            ) from None
    if key_file is None:
        raise KeyLoadError(f"no agent key: set {ENV_VAR} or give a key file (mode 0600)")
    return _from_file(Path(key_file))


def _from_file(path: Path) -> Signer:
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        raise KeyLoadError(f"key file {path} does not exist") from None
    except OSError as exc:
        raise KeyLoadError(f"key file {path} cannot be read ({exc.strerror})") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        log.error("refusing key file %s with mode %o", path, mode)
        raise KeyLoadError(
            f"key file {path} is accessible by others (mode {mode:o}); run: chmod 600 {path}"
        )
    try:
        text = path.read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError):
        raise KeyLoadError(f"key file {path} cannot be read as a hex private key") from None
    try:
        return Signer.from_key(text.strip())
    except ValueError:
        raise KeyLoadError(
            f"key file {path} does not hold a valid private key (64 hex digits)"
        ) from None
