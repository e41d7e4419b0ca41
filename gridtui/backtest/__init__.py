"""The backtest: the live engine over historical candles (``gridtui backtest``)."""


class BacktestError(Exception):
    """A backtest that cannot run as asked; the message is one line naming the fix."""
