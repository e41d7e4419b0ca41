"""``gridtui optimize``: Optuna searches a bot's grid and risk settings over historical candles,
walk-forward, scoring each trial with a compiled mirror of the backtest replay where it models
the settings (``fast_replay``, held to the replay by a differential test) and with the replay
itself (the live engine) elsewhere; the best trials are always re-run by the replay."""


class OptimizeError(Exception):
    """Bad input to ``gridtui optimize``: the message is one line naming the place and the fix."""
