"""Progress, cancel and messages of one run, handed down the call chain as one object.

A caller gives each stage a part of its own range (``progress.part(0.5, 0.9)``); the
stage counts from 0 to 1 and never does range arithmetic. The adapters connect it to
their world: QGIS's feedback, or ``print`` for the command line.
"""

from __future__ import annotations

import time
from typing import Callable

from ..errors import Cancelled


class Progress:
    def __init__(self, report: Callable[[float], None] | None = None, is_cancelled: Callable[[], bool] | None = None,
                 info: Callable[[str], None] | None = None, warn: Callable[[str], None] | None = None,
                 start: float = 0.0, end: float = 1.0):
        self._report, self._is_cancelled, self._info, self._warn = report, is_cancelled, info, warn
        self.start, self.end = start, end

    def __call__(self, fraction: float) -> None:
        """Report ``fraction`` (0-1) of this part done."""
        if self._report is not None:
            self._report(self.start + (self.end - self.start) * min(max(fraction, 0.0), 1.0))

    def part(self, start: float, end: float) -> Progress:
        """The sub-range [start, end] of this part (fractions of it), sharing cancel and messages."""
        span = self.end - self.start
        return Progress(self._report, self._is_cancelled, self._info, self._warn,
                        self.start + span * start, self.start + span * end)

    @property
    def cancelled(self) -> bool:
        return self._is_cancelled is not None and self._is_cancelled()

    def check(self) -> None:
        """Raise :class:`Cancelled` when the run has been cancelled."""
        if self.cancelled:
            raise Cancelled()

    def counter(self, total: int, unit: str, clock: Callable[[], float] = time.monotonic) -> "Counter":
        """Counts ``total`` ``unit`` through this part, saying how far and how long is left."""
        return Counter(self, total, unit, clock)

    def info(self, text: str) -> None:
        if self._info is not None:
            self._info(text)

    def warn(self, text: str) -> None:
        (self._warn or self._info or (lambda _text: None))(text)


class Counter:
    """Counts the units of a long stage (windows, polygons): the progress bar moves with
    every unit, and every tenth of the way a message says how many are done and about how
    long the rest will take (what a mapper watches during a ten-minute run)."""

    STEPS = 10

    def __init__(self, progress: Progress, total: int, unit: str, clock: Callable[[], float] = time.monotonic):
        self.progress, self.total, self.unit, self.clock = progress, max(total, 1), unit, clock
        self.started, self.told = clock(), 0

    def __call__(self, done: int) -> None:
        self.progress(done / self.total)
        step = self.STEPS * done // self.total
        if step <= self.told or done >= self.total:
            return
        self.told = step
        elapsed = self.clock() - self.started
        left = elapsed * (self.total - done) / max(done, 1)
        self.progress.info(f"{done:,} of {self.total:,} {self.unit} ({100 * done // self.total} %), "
                           f"about {duration_text(left)} left")


def duration_text(seconds: float) -> str:
    """A rough duration as a person says it: 'under a minute' below one, '4 min', '1 h 05 min'."""
    if seconds < 60:
        return "under a minute" if seconds >= 10 else "a few seconds"
    minutes = round(seconds / 60)
    return f"{minutes} min" if minutes < 60 else f"{minutes // 60} h {minutes % 60:02d} min"


#: For callers with nothing to report to.
SILENT = Progress()
