"""Random command lines and random configs never produce a traceback (issue 8, failure 9).

The CLI test builds argument lists from the real option names and subcommands plus junk values
and junk tokens; the config test mutates the starter document key by key with values of random
type. The only allowed outcomes are a return code, ``SystemExit`` from argparse (2, or 0 for a
help request), or, for the loader, a ``ConfigError``. Only short commands run (check-config,
init, status, fills, audit, all on the paper venue, in a temporary folder): nothing here starts
the cockpit, a headless run, the mock server or a benchmark.
"""

from __future__ import annotations

import contextlib
import copy
import io
import re
import tempfile
import tomllib
from pathlib import Path
from typing import Any

import tomli_w
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import gridtui.books  # noqa: F401  (loaded up front: see below)
from gridtui.cli import main
from gridtui.config.fields import (
    BOT_FIELDS,
    BREAKER_FIELDS,
    DEAD_MAN_FIELDS,
    ENGINE_FIELDS,
    GRID_FIELDS,
    MARKET_FIELDS,
    PAPER_FIELDS,
    RISK_FIELDS,
    TOP_FIELDS,
    VENUE_FIELDS,
)
from gridtui.config.loader import ConfigError, load_config_text
from gridtui.config.schema import AppConfig
from gridtui.config.starter import render_starter

# gridtui.books pulls in py_ecc, which raises the recursion limit when imported; importing it
# here, not inside the first example, keeps hypothesis from warning about a changed limit.
FUZZ = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# Text a shell can pass: no NUL (argv cannot carry it), no lone surrogates.
ARG_TEXT = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
    max_size=12,
)
JUNK_PATHS = st.sampled_from(
    ["", "/dev/zero", "/dev/null", "/proc/x.toml", ".", "nope.toml", "a" * 300, "~nobody9/x"]
)
VALUE = st.one_of(
    ARG_TEXT,
    st.integers(-(2**70), 2**70).map(str),
    st.sampled_from(["-1", "0", "1", "9100", "65536", "1e30", "nan", "http://", "http://h:1"]),
)

# (option, values it takes; None = a flag)
GLOBAL_OPTIONS: list[tuple[str, st.SearchStrategy[str] | None]] = [
    ("--config", st.one_of(st.just("config.toml"), JUNK_PATHS, ARG_TEXT)),
    ("--headless", None),
    ("--log-format", st.one_of(st.sampled_from(["text", "json"]), ARG_TEXT)),
    ("--log-level", st.one_of(st.sampled_from(["debug", "info", "warning", "error"]), ARG_TEXT)),
    ("--metrics-port", VALUE),
    ("--theme", ARG_TEXT),
    ("--venue", st.one_of(st.just("paper"), ARG_TEXT)),
    ("--api-url", st.one_of(st.just("http://127.0.0.1:1"), VALUE)),
    ("--mainnet", None),
]
SUBCOMMANDS: dict[str, list[tuple[str, st.SearchStrategy[str] | None]]] = {
    "check-config": [],
    "init": [],
    "status": [("--json", None), ("--config", st.one_of(st.just("config.toml"), JUNK_PATHS))],
    "fills": [("--json", None), ("--bot", ARG_TEXT), ("--config", JUNK_PATHS)],
    "audit": [("--config", st.one_of(st.just("config.toml"), JUNK_PATHS))],
}
POSITIONALS = {
    "check-config": st.one_of(st.just("config.toml"), JUNK_PATHS, ARG_TEXT),
    "init": st.one_of(st.just("new.toml"), st.just("sub/dir/new.toml"), JUNK_PATHS, ARG_TEXT),
}
HELP = re.compile(r"--?h")


@st.composite
def options(draw: st.DrawFn, table: list[tuple[str, st.SearchStrategy[str] | None]]) -> list[str]:
    chosen = draw(st.lists(st.sampled_from(table), max_size=4)) if table else []
    args: list[str] = []
    for option, values in chosen:
        args.append(option)
        if values is not None:
            args.append(draw(values))
    return args


@st.composite
def command_lines(draw: st.DrawFn) -> list[str]:
    command = draw(st.sampled_from(sorted(SUBCOMMANDS)))
    argv = [*draw(options(GLOBAL_OPTIONS)), command, *draw(options(SUBCOMMANDS[command]))]
    if command in POSITIONALS and draw(st.booleans()):
        argv.append(draw(POSITIONALS[command]))
    for _ in range(draw(st.integers(0, 2))):  # junk anywhere: unknown options, stray words
        junk = draw(st.one_of(ARG_TEXT, st.sampled_from(["--bogus", "-x", "--", "--json"])))
        argv.insert(draw(st.integers(0, len(argv))), junk)
    return argv


def _is_live(argv: list[str]) -> bool:
    """A hyperliquid venue would make audit connect to the network: not a unit test."""
    return "audit" in argv and any(arg.startswith("--v") for arg in argv)


@FUZZ
@given(argv=command_lines())
def test_random_command_lines_never_raise(argv: list[str]) -> None:
    if _is_live(argv):
        return
    out, err = io.StringIO(), io.StringIO()
    with (
        tempfile.TemporaryDirectory() as folder,
        contextlib.chdir(folder),
        contextlib.redirect_stdout(out),
        contextlib.redirect_stderr(err),
    ):
        Path("config.toml").write_text(render_starter())
        try:
            code = main(argv)
        except SystemExit as exc:
            allowed = {2, 0} if any(HELP.match(arg) for arg in argv) else {2}
            assert exc.code in allowed, (argv, exc.code, err.getvalue())
            code = exc.code
    assert isinstance(code, int), argv
    assert "Traceback" not in err.getvalue(), (argv, err.getvalue())
    if code != 0:
        assert err.getvalue().strip(), ("a failure must say why", argv)


# -- configs: the starter document, mutated ---------------------------------------------------

STARTER = tomllib.loads(render_starter())
SECTIONS: list[tuple[tuple[str | int, ...], dict[str, Any]]] = [
    ((), TOP_FIELDS),
    (("engine",), ENGINE_FIELDS),
    (("circuit_breaker",), BREAKER_FIELDS),
    (("dead_man_switch",), DEAD_MAN_FIELDS),
    (("venue",), VENUE_FIELDS),
    (("venue", "paper"), PAPER_FIELDS),
    (("venue", "paper", "markets", 0), MARKET_FIELDS),
    (("venue", "paper", "markets", 1), MARKET_FIELDS),
    (("grid",), GRID_FIELDS),
    (("risk",), RISK_FIELDS),
    (("coins", "BTC", "grid"), GRID_FIELDS),
    (("coins", "ETH", "risk"), RISK_FIELDS),
    (("bots", 0), BOT_FIELDS),
    (("bots", 0, "grid"), GRID_FIELDS),
    (("bots", 1), BOT_FIELDS),
    (("bots", 1, "risk"), RISK_FIELDS),
]
SCALAR = st.one_of(
    st.integers(-(2**63), 2**63 - 1),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0, 1, -1, 1e30, 1e-30, 0.5, 5, 200, 3, 86401, "1e30", "-0", "0.0001"]),
    st.text(max_size=20),
    st.sampled_from(
        [
            *("BTC", "btc", "paper", "hyperliquid", "bounded", "geometric", "mainnet"),
            *("http://", "notaurl", "http://h:99999", "0x" + "ab" * 32, "0x" + "1f" * 20),
        ]
    ),
    st.booleans(),
    st.datetimes().map(lambda d: d.replace(microsecond=0)),
    st.dates(),
)
TOML_VALUE = st.recursive(
    SCALAR,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.sampled_from(["a", "coin"]), inner)
    ),
    max_leaves=4,
)


PATH_VALUE = st.one_of(
    st.sampled_from(["/proc/x", "/dev/null", "/dev/zero", "~nobody9/x", "a" * 300, "a\x00b"]),
    st.sampled_from(["data", ".", "..", "/", "~", "data/paper.db", "config.toml", " x", "x/"]),
    st.text(max_size=30),
)


PATH_SLOTS: list[tuple[str | int, ...]] = [
    ("data_dir",),
    ("venue", "paper", "state_file"),
    ("venue", "paper", "markets", 0, "candles_file"),
    ("venue", "key_file"),
]


def _table_at(doc: dict[str, Any], path: tuple[str | int, ...]) -> dict[str, Any] | None:
    """The table at ``path`` (created when missing), or None where the document has no such
    place (an array shorter than the index, a value where a table was)."""
    table: Any = doc
    for step in path:
        if isinstance(step, int):
            table = table[step] if isinstance(table, list) and step < len(table) else None
        else:
            table = table.setdefault(step, {}) if isinstance(table, dict) else None
        if table is None:
            return None
    return table if isinstance(table, dict) else None


@st.composite
def mutated_documents(draw: st.DrawFn) -> dict[str, Any]:
    """The starter with 1 to 3 changes: a key of a real table set to a random value or removed,
    or one of the paths set to an awkward one (paths are few among the keys, and where the
    operating system answers back, so they get their own share)."""
    doc = copy.deepcopy(STARTER)
    for _ in range(draw(st.integers(1, 3))):
        if draw(st.integers(0, 2)) == 0:
            *where, key = draw(st.sampled_from(PATH_SLOTS))
            table = _table_at(doc, tuple(where))
            if table is not None:
                table[str(key)] = draw(PATH_VALUE)
            continue
        path, fields = draw(st.sampled_from(SECTIONS))
        table = _table_at(doc, path)
        if table is None:
            continue
        key = draw(st.one_of(st.sampled_from(sorted(fields) or ["x"]), st.just("bogus_key")))
        if draw(st.integers(0, 4)) == 0:
            table.pop(key, None)
        else:
            table[key] = draw(TOML_VALUE)
    return doc


@settings(FUZZ, max_examples=200)
@given(doc=mutated_documents(), check_files=st.booleans())
def test_random_configs_load_or_fail_with_config_error(
    doc: dict[str, Any], check_files: bool
) -> None:
    text = tomli_w.dumps(doc)
    with tempfile.TemporaryDirectory() as folder:
        try:
            config = load_config_text(
                text, base_dir=Path(folder), source="fuzz.toml", check_files=check_files
            )
        except ConfigError as exc:
            assert exc.problems, text
            for problem in exc.problems:
                assert "\n" not in problem and problem.strip(), problem
            return
    assert isinstance(config, AppConfig)


@FUZZ
@given(text=st.text(max_size=200), prefix=st.sampled_from(["", render_starter()]))
def test_random_text_is_a_config_error_not_a_crash(text: str, prefix: str) -> None:
    try:
        load_config_text(prefix + text, base_dir=Path("/nonexistent"), source="fuzz.toml")
    except ConfigError as exc:
        assert all("\n" not in problem for problem in exc.problems)


def test_the_generators_reach_a_valid_config() -> None:
    """Guard against a fuzz test that only ever exercises the first error: the unmutated base
    loads, so mutations start from a config that gets through every rule."""
    assert isinstance(
        load_config_text(tomli_w.dumps(STARTER), base_dir=Path("/x"), source="s"), AppConfig
    )
