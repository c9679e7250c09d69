"""Runnable examples (``python examples/<name>.py``); :mod:`examples.demo` builds their index."""
