"""browser/opener.py: which machines can open the person's browser, and how it is started.

Every platform branch runs here on any machine: the platform, the environment, the
`PATH` look-up and the process start are the `Desktop`'s and `Opener`'s parameters.
"""

from __future__ import annotations

import subprocess
import threading
from collections.abc import Callable
from typing import Any

import pytest

from snapshot_mcp.browser.opener import (
    NO_DESKTOP,
    Desktop,
    Launcher,
    Opener,
    browser_commands,
    is_console_browser,
    with_address,
)

URL = "http://127.0.0.1:4321/#0123456789abcdef01234567.c2VjcmV0LXNlY3JldC1zZWNyZXQ"


def on_path(*names: str) -> Callable[[str], str | None]:
    """A `shutil.which` that finds exactly `names` (bare or as given)."""
    return lambda program: f"/usr/bin/{program.rsplit('/', 1)[-1]}" if program in names else None


def desktop(platform: str = "linux", found: tuple[str, ...] = (), **environ: str) -> Desktop:
    return Desktop(platform=platform, environ=environ, which=on_path(*found), startfile=None, pathsep=":")


# --------------------------------------------------------------------------- BROWSER, as webbrowser reads it


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("firefox", [["firefox"]]),
        ("firefox --new-window %s", [["firefox", "--new-window", "%s"]]),
        ("'/opt/My Browser/run' %s &", [["/opt/My Browser/run", "%s"]]),
        ("lynx:firefox", [["lynx"], ["firefox"]]),
        (":  :", []),
        ("'unclosed %s:chromium", [["chromium"]]),
    ],
    ids=["bare", "with-placeholder", "quoted-and-background", "list", "empty-entries", "broken-entry-skipped"],
)
def test_browser_value_is_split_like_webbrowser(value: str, expected: list[list[str]]) -> None:
    """`os.pathsep` separates commands; each is split as a shell would; a trailing `&` is dropped."""
    assert browser_commands(value, ":") == expected


def test_the_address_replaces_the_placeholder_or_is_appended() -> None:
    """`%s` becomes the address wherever it stands; without one, the address is the last argument."""
    assert with_address(["open-it", "--url=%s", "x"], URL) == ["open-it", f"--url={URL}", "x"]
    assert with_address(["firefox", "--new-tab"], URL) == ["firefox", "--new-tab", URL]


@pytest.mark.parametrize("program", ["lynx", "/usr/bin/w3m", "links", "elinks", "www-browser", "C:\\bin\\LYNX.EXE"])
def test_console_browsers_are_recognised(program: str) -> None:
    """Terminal browsers, bare, by path or as a Windows executable, are never started."""
    assert is_console_browser(program)


def test_graphical_browsers_are_not_console_browsers() -> None:
    """firefox, chromium and x-www-browser are graphical."""
    assert not any(is_console_browser(name) for name in ("firefox", "/usr/bin/chromium", "x-www-browser"))


# --------------------------------------------------------------------------- which machines can open one


def test_linux_with_a_display_uses_xdg_open() -> None:
    """X11 or Wayland and xdg-open on PATH: xdg-open, with the address as its argument."""
    for variable in ("DISPLAY", "WAYLAND_DISPLAY"):
        launcher = desktop(found=("xdg-open", "gio"), **{variable: ":0"}).launcher()
        assert launcher is not None
        assert launcher.command(URL) == ["xdg-open", URL]


def test_linux_with_a_display_falls_back_to_gio() -> None:
    """No xdg-open: `gio open <address>`."""
    launcher = desktop(found=("gio",), DISPLAY=":0").launcher()
    assert launcher is not None
    assert launcher.command(URL) == ["gio", "open", URL]


def test_linux_without_a_display_or_browser_cannot_open_one() -> None:
    """No DISPLAY, no WAYLAND_DISPLAY, no BROWSER: no browser, whatever is on PATH (a terminal is not enough)."""
    assert desktop(found=("xdg-open", "gio", "firefox"), TERM="xterm-256color").launcher() is None
    assert NO_DESKTOP.launcher() is None


def test_linux_with_a_display_but_no_opener_cannot_open_one() -> None:
    """A display but neither xdg-open nor gio: no browser."""
    assert desktop(DISPLAY=":0").launcher() is None


def test_browser_names_a_graphical_browser_even_without_a_display() -> None:
    """BROWSER is honoured first, on any platform, when its program exists."""
    launcher = desktop(found=("firefox",), BROWSER="firefox --new-tab").launcher()
    assert launcher is not None
    assert launcher.command(URL) == ["firefox", "--new-tab", URL]


def test_console_browsers_in_browser_are_skipped() -> None:
    """BROWSER=lynx:w3m on a machine without a display: no browser at all; with a later GUI entry, that one."""
    assert desktop(found=("lynx", "w3m"), BROWSER="lynx:w3m").launcher() is None
    launcher = desktop(found=("lynx", "chromium"), BROWSER="lynx:chromium %s").launcher()
    assert launcher is not None
    assert launcher.command(URL) == ["chromium", URL]


def test_a_browser_entry_that_is_not_installed_is_skipped() -> None:
    """BROWSER naming a missing program falls through to the platform's way."""
    launcher = desktop(found=("xdg-open",), BROWSER="no-such-browser", DISPLAY=":0").launcher()
    assert launcher is not None
    assert launcher.argv[0] == "xdg-open"


def test_macos_uses_open() -> None:
    """macOS: `open <address>`, no display variable needed."""
    launcher = desktop("darwin").launcher()
    assert launcher is not None
    assert launcher.command(URL) == ["open", URL]


def test_windows_uses_startfile() -> None:
    """Windows: `os.startfile(address)`; without it (not Windows after all), nothing."""
    opened: list[str] = []
    windows = Desktop(platform="win32", environ={}, which=on_path(), startfile=opened.append)
    launcher = windows.launcher()
    assert launcher is not None
    Opener(launcher).open(URL)
    assert opened == [URL]
    assert Desktop(platform="win32", environ={}, which=on_path(), startfile=None).launcher() is None


# --------------------------------------------------------------------------- how the process is started


class FakeProcess:
    def __init__(self) -> None:
        self.waited = threading.Event()

    def wait(self) -> int:
        self.waited.set()
        return 0


def test_the_browser_never_inherits_stdio_and_is_not_waited_for() -> None:
    """stdin, stdout and stderr are DEVNULL; its own session; the call returns while a reaper thread waits."""
    started: list[tuple[list[str], dict[str, Any]]] = []
    process = FakeProcess()

    def popen(argv: list[str], **kwargs: Any) -> FakeProcess:
        started.append((argv, kwargs))
        return process

    Opener(Launcher(("xdg-open", "%s")), popen=popen).open(URL)
    [(argv, kwargs)] = started
    assert argv == ["xdg-open", URL]
    assert kwargs["stdin"] == kwargs["stdout"] == kwargs["stderr"] == subprocess.DEVNULL
    assert kwargs["start_new_session"] is True
    assert kwargs["close_fds"] is True
    assert process.waited.wait(5), "a reaper thread collects the process when it exits"


def test_a_command_that_cannot_start_raises_without_the_address() -> None:
    """A missing program raises OSError; its message names the program, never the address."""

    def popen(argv: list[str], **kwargs: Any) -> FakeProcess:
        raise FileNotFoundError(2, "No such file or directory", argv[0])

    with pytest.raises(OSError, match="No such file") as caught:
        Opener(Launcher(("gone-browser", "%s")), popen=popen).open(URL)
    assert URL not in str(caught.value)
