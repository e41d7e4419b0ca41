"""Fixtures of the flow tests; the helpers live in flowkit.py (a unique module name, so test files
in other folders importing their own helpers never pick up these)."""

from flowkit import env, make_env

__all__ = ["env", "make_env"]
