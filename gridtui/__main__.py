"""``python -m gridtui``: the same entry point as the ``gridtui`` console script."""

import sys

from gridtui.cli import main

sys.exit(main())
