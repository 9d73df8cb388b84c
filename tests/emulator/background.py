"""BackgroundLoop: a step repeated in a thread for the length of a ``with`` block."""

from __future__ import annotations

import threading


class BackgroundLoop:
    """Calls ``step()`` until the ``with`` block ends; ``step`` returns the seconds to wait
    before the next call (``None``: ``interval``)."""

    interval = 0.2

    def __init__(self) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=type(self).__name__, daemon=True)

    def step(self) -> float | None:
        raise NotImplementedError

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def _loop(self) -> None:
        while not self._stop.is_set():
            wait = self.step()
            self._stop.wait(self.interval if wait is None else wait)
