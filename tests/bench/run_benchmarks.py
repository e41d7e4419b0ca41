"""Run both benchmarks, one after the other: ``python tests/bench/run_benchmarks.py [--count N]``.

The same figures as ``gridtui bench fills`` and ``gridtui bench tick``, in one go, for pasting into
an issue or a release note. Figures only: nothing here judges them.
"""

from __future__ import annotations

import argparse
import sys

from gridtui.bench import run_bench


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--count", type=int, help="fills per mode and tick samples (default: each benchmark's own)"
    )
    args = parser.parse_args(argv)
    for what in ("fills", "tick"):
        code = run_bench(what, count=args.count)
        if code:
            return code
        sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
