"""The engine as cockpits reach it: in their own process, or a ``gridtui serve`` process's over
its control socket."""
