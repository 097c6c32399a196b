"""``python -m backend.backtest``: see backend.backtest.cli."""

import sys

from backend.backtest.cli import main

sys.exit(main())
