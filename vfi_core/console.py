"""A small progress bar on stderr for the command line (no tqdm dependency).

``ProgressBar`` is a ``progress(done, total)`` callable, the signature every long vfi_core loop
takes. On a terminal it redraws one line in place (at most ~10 times a second); when stderr is a
file or pipe it writes a plain line every 10 %, and at least every ``log_interval`` seconds while
the work advances (a long render between two tenths still shows it is alive), so logs stay short.
The fraction shown never goes back: a caller whose total grows is shown at its earlier fraction
until it catches up.
"""
import shutil
import sys
import time


def format_seconds(seconds: float) -> str:
    """1.234 -> '1.2 s', 75 -> '1:15', 3725 -> '1:02:05'."""
    if seconds < 60:
        return f"{seconds:.1f} s"
    m, s = divmod(int(round(seconds)), 60)
    h, m = divmod(m, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


class ProgressBar:
    """``bar(done, total)`` draws ``desc [#####-----] done/total  50%  1.2 s  eta 1.2 s``.

    Use as a context manager (or call ``close()``) to finish the line. ``enabled=False`` makes
    every call a no-op (``--quiet``).
    """

    def __init__(self, desc: str = "", stream=None, width: int = 28, enabled: bool = True,
                 min_interval: float = 0.1, log_interval: float = 30.0, clock=time.perf_counter):
        self.desc = desc
        self.stream = stream if stream is not None else sys.stderr
        self.width = width
        self.enabled = enabled
        self.min_interval = min_interval
        self.log_interval = log_interval
        self.clock = clock
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.start = clock()
        self.done = 0
        self.total = None
        self._last_draw = -1.0
        self._last_decile = -1
        self._line_len = 0
        self._open = False
        self._drawn = None

    def __call__(self, done: int, total: int | None = None) -> None:
        if not self.enabled:
            return
        done, total = int(done), int(total) if total is not None else self.total
        if total and self.total and self.done and done * self.total < self.done * total:
            done = -(-self.done * total // self.total)     # the same fraction as shown before, rounded up
        self.done, self.total = done, total
        now = self.clock()
        finished = self.total is not None and self.done >= self.total
        if self.tty:
            if finished or now - self._last_draw >= self.min_interval:
                self._draw(now, end="")
        else:
            decile = int(10 * self.done / self.total) if self.total else 0
            moved = self._drawn is None or self._drawn[0] != self.done
            if decile > self._last_decile or finished or (moved and now - self._last_draw >= self.log_interval):
                self._last_decile = max(decile, self._last_decile)
                self._draw(now, end="\n")

    def note(self, text: str) -> None:
        """Print a line of text without breaking the bar (a terminal bar is redrawn under it)."""
        if not self.enabled:
            return
        if self.tty and self._open:
            self.stream.write("\r" + " " * self._line_len + "\r" + text + "\n")
            self._line_len, self._open = 0, False
            if self.total is not None:
                self._draw(self.clock(), end="")
        else:
            self.stream.write(text + "\n")
        self.stream.flush()

    def render(self, now: float | None = None) -> str:
        """The bar as text (without carriage return)."""
        now = self.clock() if now is None else now
        elapsed = now - self.start
        parts = [self.desc] if self.desc else []
        if self.total:
            frac = min(max(self.done / self.total, 0.0), 1.0)
            fill = int(round(frac * self.width))
            parts.append("[" + "#" * fill + "-" * (self.width - fill) + "]")
            parts.append(f"{self.done}/{self.total}")
            parts.append(f"{100 * frac:3.0f}%")
            parts.append(format_seconds(elapsed))
            if 0 < self.done < self.total:
                parts.append("eta " + format_seconds(elapsed / self.done * (self.total - self.done)))
        else:
            parts.append(f"{self.done}")
            parts.append(format_seconds(elapsed))
        return "  ".join(parts)

    def _fit(self, now: float) -> str:
        """The bar shortened (bar first, then the description) to stay on one terminal line, so
        that the carriage return can redraw it."""
        columns = shutil.get_terminal_size((80, 24)).columns - 1
        text = self.render(now)
        excess = len(text) - columns
        if excess > 0:
            width, desc = self.width, self.desc
            self.width = max(self.width - excess, 8)
            text = self.render(now)
            excess = len(text) - columns
            if excess > 0 and self.desc:
                self.desc = self.desc[:max(len(self.desc) - excess - 3, 0)] + "..."
                text = self.render(now)
            self.width, self.desc = width, desc
        return text[:columns]

    def _draw(self, now: float, end: str) -> None:
        text = self._fit(now) if self.tty else self.render(now)
        if self.tty:
            pad = max(self._line_len - len(text), 0)
            self.stream.write("\r" + text + " " * pad + end)
            self._line_len = len(text)
            self._open = True
        else:
            self.stream.write(text + end)
        self.stream.flush()
        self._last_draw = now
        self._drawn = (self.done, self.total)

    def close(self) -> None:
        """End the bar's line (a terminal bar is redrawn once more with the final count)."""
        if self.enabled and self.tty and self._open:
            if self._drawn == (self.done, self.total):
                self.stream.write("\n")
                self.stream.flush()
            else:
                self._draw(self.clock(), end="\n")
            self._open = False

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False
