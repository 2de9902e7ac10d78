"""Terminal output for the demo: numbered steps, the equivalent commands, progress bars and a
live status line (redrawn in place on a terminal, one line per change otherwise)."""

from __future__ import annotations

import sys
import time

import click

_SPINNER = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"


def human(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} GB"


class Display:
    def __init__(self, total_steps: int, stream=None, color: bool | None = None):
        self.stream = stream or sys.stdout
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.color = self.tty if color is None else color
        self.total = total_steps
        self._live_last = ""
        self._live_open = False
        self._spin = 0
        self._bars: dict[str, float] = {}

    def _style(self, text: str, **kw) -> str:
        return click.style(text, **kw) if self.color else text

    def _out(self, text: str = "") -> None:
        self._end_live()
        click.echo(text, file=self.stream)

    def title(self, text: str) -> None:
        self._out(self._style(text, bold=True))

    def step(self, n: int, who: str, text: str) -> None:
        self._out()
        self._out(self._style(f"[{n}/{self.total}] ", fg="cyan", bold=True)
                  + self._style(f"{who}: ", bold=True) + text)

    def info(self, text: str) -> None:
        self._out(f"      {text}")

    def ok(self, text: str) -> None:
        self._out("      " + self._style("✓ ", fg="green", bold=True) + text)

    def warn(self, text: str) -> None:
        self._out("      " + self._style("! ", fg="yellow", bold=True) + text)

    def commands(self, header: str, lines: list[str]) -> None:
        self._out("      " + self._style(header, dim=True))
        for line in lines:
            for i, part in enumerate(line.split("\n")):
                prefix = "$ " if i == 0 and not line.startswith("#") else "  "
                self._out("        " + self._style(prefix + part, fg="bright_black" if self.color else None))

    # -- progress bars (one per label) -------------------------------------
    def progress(self, label: str, done: int, total: int) -> None:
        finished = total == 0 or done >= total
        if self.tty:
            width = 28
            frac = 1.0 if total == 0 else min(1.0, done / total)
            bar = "█" * int(frac * width) + "░" * (width - int(frac * width))
            self._live(f"      ↑ {label:<24} {bar} {human(done):>9} / {human(total)}")
            if finished:
                self._end_live(keep=True)
        elif finished and self._bars.get(label) != total:
            self._bars[label] = total
            self._out(f"      ↑ {label:<24} {human(total):>9} done")

    # -- live status line ----------------------------------------------------
    def live(self, text: str, key: str | None = None) -> None:
        """Redraw the status line; off a terminal, print it only when `key` (default: the
        text) changes."""
        if self.tty:
            self._spin = (self._spin + 1) % len(_SPINNER)
            self._live(f"      {_SPINNER[self._spin]} {text}")
        elif (key or text) != self._live_last:
            self._live_last = key or text
            click.echo(f"      · {text}", file=self.stream)

    def _live(self, line: str) -> None:
        self.stream.write("\r\033[K" + line)
        self.stream.flush()
        self._live_open = True

    def _end_live(self, keep: bool = False) -> None:
        if self._live_open:
            self.stream.write("\n" if keep else "\r\033[K")
            self.stream.flush()
            self._live_open = False

    def done_live(self, text: str) -> None:
        self._end_live()
        self._live_last = ""
        self.ok(text)


class Clock:
    def __init__(self):
        self.t0 = time.monotonic()

    def __call__(self) -> float:
        return time.monotonic() - self.t0
