"""Opening the person's own graphical browser on an address, the way a stdio server must.

Python's `webbrowser` is not used as is: for a `BROWSER` command (and for console
browsers) it starts the process with the server's own stdin and stdout, so whatever
the command prints lands in the JSON-RPC stream, and it waits for the command to
exit, which a browser opened in the foreground never does. Here the opener:

- honours `BROWSER` as `webbrowser` reads it: an `os.pathsep`-separated list of
  commands, tried in order; a command containing `%s` is split as a shell would and
  `%s` becomes the address, otherwise the address is appended as the last argument
  (a trailing `&` is dropped: the browser always starts in the background);
- then the platform's own way: `open` on macOS, `os.startfile` on Windows, and
  elsewhere `xdg-open` or `gio open`, only when a display (`DISPLAY`,
  `WAYLAND_DISPLAY`) is there;
- never uses a console browser (lynx, w3m, links, elinks, www-browser): one would
  take the terminal the client runs in;
- starts the process with stdin, stdout and stderr on `DEVNULL`, in a session of its
  own, and never waits for it (a daemon thread reaps it when it exits).

Where none of these applies there is no browser, and the browser channel is not
offered. Everything the detection reads (platform, environment, `PATH` look-up,
process start) is a parameter, so each platform's branch is tested anywhere.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

CONSOLE_BROWSERS = frozenset({"www-browser", "links", "links2", "elinks", "lynx", "w3m", "browsh"})
"""Browsers that run in the terminal: never started (they would take the client's terminal)."""

URL_PLACEHOLDER = "%s"

Popen = Callable[..., Any]
"""`subprocess.Popen`, or a stand-in with its signature (tests)."""


def browser_commands(value: str, pathsep: str = os.pathsep) -> list[list[str]]:
    """The commands a `BROWSER` value names, in order, each split as a shell would ("%s" kept as is)."""
    commands = []
    for entry in value.split(pathsep):
        try:
            argv = shlex.split(entry)
        except ValueError:  # an unclosed quote: not a command
            continue
        if argv and argv[-1] == "&":
            argv = argv[:-1]
        if argv:
            commands.append(argv)
    return commands


def with_address(argv: Sequence[str], url: str) -> list[str]:
    """`argv` with `%s` replaced by `url`, or with `url` appended when it has no `%s`."""
    if any(URL_PLACEHOLDER in arg for arg in argv):
        return [arg.replace(URL_PLACEHOLDER, url) for arg in argv]
    return [*argv, url]


def is_console_browser(program: str) -> bool:
    """True for a terminal browser, named bare or by path (`/usr/bin/lynx`, `w3m.exe`)."""
    name = os.path.basename(program.replace("\\", "/")).lower().removesuffix(".exe")
    return name in CONSOLE_BROWSERS


@dataclass(frozen=True)
class Launcher:
    """One way to open an address: a command line (with `%s` where the address goes), or a function (`os.startfile`)."""

    argv: tuple[str, ...] = ()
    call: Callable[[str], None] | None = None

    def command(self, url: str) -> list[str]:
        return with_address(self.argv, url)


@dataclass(frozen=True)
class Desktop:
    """Where the server runs, as far as opening a browser goes: the platform, the environment, `PATH`."""

    platform: str = field(default_factory=lambda: sys.platform)
    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    which: Callable[[str], str | None] = shutil.which
    startfile: Callable[[str], None] | None = field(default_factory=lambda: getattr(os, "startfile", None))
    pathsep: str = os.pathsep

    def launcher(self) -> Launcher | None:
        """How this machine opens the person's graphical browser, or None: it cannot."""
        for argv in browser_commands(self.environ.get("BROWSER", ""), self.pathsep):
            if not is_console_browser(argv[0]) and self.which(argv[0]) is not None:
                return Launcher(tuple(argv))
        if self.platform == "darwin":
            return Launcher(("open", URL_PLACEHOLDER))
        if self.platform == "win32":
            return Launcher(call=self.startfile) if self.startfile is not None else None
        if not (self.environ.get("DISPLAY") or self.environ.get("WAYLAND_DISPLAY")):
            return None
        if self.which("xdg-open") is not None:
            return Launcher(("xdg-open", URL_PLACEHOLDER))
        if self.which("gio") is not None:
            return Launcher(("gio", "open", URL_PLACEHOLDER))
        return None


NO_DESKTOP = Desktop(platform="linux", environ={}, which=lambda _: None, startfile=None)
"""A machine without a display or `BROWSER`: no browser can be opened."""


A_PERSONS_COMPUTER = Desktop(platform="darwin", environ={}, which=lambda _: None, startfile=None)
"""A person's own computer, where the browser opens: what the README's tool table and the token figure describe."""


def this_machine() -> Desktop:
    """The machine this process runs on, as it is now (the test suite replaces it with `NO_DESKTOP`)."""
    return Desktop()


class Opener:
    """Starts the browser on an address without lending it the server's stdio, and without waiting."""

    def __init__(self, launcher: Launcher, popen: Popen = subprocess.Popen) -> None:
        self.launcher = launcher
        self._popen = popen

    def open(self, url: str) -> None:
        """Start the browser (blocking for the process start only: call it off the event loop).

        Raises `OSError` when the command cannot be started. The address is never logged
        or put into an error message here: it carries the page's secret.
        """
        if self.launcher.call is not None:
            self.launcher.call(url)
            return
        process = self._popen(
            self.launcher.command(url),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            close_fds=True,
            start_new_session=True,
        )
        # Reaped when it exits, so no zombie stays behind; nobody waits on it.
        threading.Thread(target=process.wait, name="browser-reaper", daemon=True).start()
