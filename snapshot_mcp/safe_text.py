"""Text the server did not write, made safe to show: one policy for invisible characters and secrets.

Text from the API (names, statuses, error messages), from a request (a path, a header)
or from a library reaches a person, a model or a log line only through this module.

Characters. Line breaks and other whitespace controls (tab, CR, LF, VT, FF, the
information separators, NEL, U+2028, U+2029) become one space each. Every other
*hidden* character — a control (Cc: NUL, ESC, BEL, DEL, C1), a format character (Cf:
bidi overrides and isolates, zero-width spaces and joiners, the BOM), a private-use
(Co) or surrogate (Cs) code point — is written as a visible escape, ``\\u202e`` (or
``\\U000e0041`` beyond the BMP). Escaped, never dropped: a name that differs from
another only by a zero-width space must not look identical to it, and an operator
reading a log should see that something was there. The result is one line that
cannot move the cursor, reorder what follows, or pose as a line of its own.

Secrets. A secret is a configured value (the API token, the HTTP client token, the
state key, a Redis password) of at least `MIN_SECRET_LENGTH` characters: a shorter one
would match ordinary words and protects nothing (the command refuses an API token that
short). A secret is replaced by ``[redacted]`` wherever it appears, also when hidden
characters — raw, or already escaped as above, or JSON-escaped — split it: they are
ignored while looking, and the whole stretch from the secret's first to its last
letter is replaced. Whitespace is not ignored: a space is visible, and two halves with
one between are not the secret.

A password in a URL is a secret too (`url_secrets`), wherever the URL carries one: in
its user information (``redis://user:pw@host``) or in a query parameter a client reads
as one (``?password=``, ``?ssl_password=``); `shown_url` is the URL with those, and a
``username=`` parameter, written as ``***``.

Order: secrets are redacted first, then characters escaped, then the text cut
(`shorten`), so no fragment of a secret survives a cut and no escape puts one together.
"""

from __future__ import annotations

import json
import re
import unicodedata
from bisect import bisect_right
from collections.abc import Iterable
from functools import lru_cache
from urllib.parse import unquote, unquote_plus, urlsplit

__all__ = [
    "MIN_SECRET_LENGTH",
    "REDACTED",
    "Secrets",
    "is_hidden",
    "one_line",
    "shorten",
    "shown",
    "shown_url",
    "url_secrets",
    "visible",
]

MIN_SECRET_LENGTH = 8
REDACTED = "[redacted]"

_HIDDEN_CATEGORIES = frozenset(("Cc", "Cf", "Co", "Cs"))
_ODD = re.compile(r"[^\x20-\x7e]")
"""Anything but printable ASCII: the only characters that may need a second look."""
_CANDIDATE = re.compile(r"[^\x20-\x7e]|\\+u[0-9a-fA-F]{4}|\\+U[0-9a-fA-F]{8}|\\+b")
"""A character that may be hidden, or an escape (ours or JSON's, possibly escaped again) that may stand for one."""


def is_hidden(ch: str) -> bool:
    """True for a control, format, private-use or surrogate character that is not whitespace."""
    return unicodedata.category(ch) in _HIDDEN_CATEGORIES and not ch.isspace()


def _escaped(ch: str) -> str:
    if ch.isspace():
        return " " if unicodedata.category(ch) in ("Cc", "Zl", "Zp") else ch
    if not is_hidden(ch):
        return ch
    code = ord(ch)
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"


def _hidden_spans(text: str) -> list[tuple[int, int]]:
    """Where `text` holds a hidden character, raw or written as an escape."""
    spans = []
    for match in _CANDIDATE.finditer(text):
        token = match.group()
        escape = token.lstrip("\\")
        ch = token if len(token) == 1 else "\b" if escape == "b" else chr(int(escape[1:], 16))
        if is_hidden(ch):
            spans.append(match.span())
    return spans


class _Visible:
    """`text` without its hidden characters, and the way back from a position in it to one in `text`."""

    def __init__(self, text: str, hidden: list[tuple[int, int]]) -> None:
        pieces: list[str] = []
        self._starts: list[int] = []  # where each kept piece starts, in the visible text
        self._origins: list[int] = []  # ... and in `text`
        position = visible = 0
        for start, end in [*hidden, (len(text), len(text))]:
            if start > position:
                self._starts.append(visible)
                self._origins.append(position)
                pieces.append(text[position:start])
                visible += start - position
            position = end
        self.text = "".join(pieces)

    def origin(self, index: int) -> int:
        piece = bisect_right(self._starts, index) - 1
        return self._origins[piece] + index - self._starts[piece]

    def spans_of(self, needle: str) -> list[tuple[int, int]]:
        """Each occurrence of `needle` in the visible text, as a span of the original text."""
        spans, at = [], self.text.find(needle)
        while at != -1:
            spans.append((self.origin(at), self.origin(at + len(needle) - 1) + 1))
            at = self.text.find(needle, at + len(needle))
        return spans


def visible(text: str) -> str:
    """`text` without its hidden characters (raw or escaped): what a person would see of it, bar spacing."""
    return _Visible(text, _hidden_spans(text)).text


class Secrets:
    """The values that are never shown (see the module docstring for what counts, and how they are found)."""

    def __init__(self, values: Iterable[str | None]) -> None:
        kept = {value for value in values if value is not None and len(value) >= MIN_SECRET_LENGTH}
        self.values = tuple(sorted(kept, key=len, reverse=True))
        # How each also looks inside JSON text (quotes, backslashes, non-ASCII escaped).
        self._forms = tuple(dict.fromkeys(form for s in self.values for form in (s, json.dumps(s)[1:-1])))

    def __bool__(self) -> bool:
        return bool(self.values)

    def found_in(self, text: str) -> bool:
        """Whether `text` (plain, or JSON) holds a secret, whole or split by hidden characters."""
        if any(form in text for form in self._forms):
            return True
        if "\\" not in text and text.isprintable():  # no hidden character, raw or escaped, to look past
            return False
        hidden = _hidden_spans(text) if self.values else []
        return bool(hidden) and any(form in _Visible(text, hidden).text for form in self._forms)

    def redact(self, text: str) -> str:
        """`text` with every secret, whole or split by hidden characters, replaced by ``[redacted]``."""
        for secret in self.values:
            if secret in text:
                text = text.replace(secret, REDACTED)
            if "\\" not in text and text.isprintable():  # no hidden character, raw or escaped, to look past
                continue
            hidden = _hidden_spans(text)
            if hidden:
                for start, end in reversed(_Visible(text, hidden).spans_of(secret)):
                    text = text[:start] + REDACTED + text[end:]
        return text


_NO_SECRETS = Secrets(())


@lru_cache(maxsize=32)
def _secrets(values: tuple[str | None, ...]) -> Secrets:
    """The same few sets of configured secrets come with every answer: each is prepared once."""
    return Secrets(values)


def _as_secrets(secrets: Secrets | Iterable[str | None]) -> Secrets:
    if isinstance(secrets, Secrets):
        return secrets
    values = tuple(secrets)
    return _secrets(values) if values else _NO_SECRETS


def one_line(text: str, secrets: Secrets | Iterable[str | None] = ()) -> str:
    """`text` with its secrets redacted, then line breaks as spaces and hidden characters escaped."""
    text = _as_secrets(secrets).redact(text)
    if text.isprintable():  # no control, format, private-use, surrogate or separator but the space: as it is
        return text
    return _ODD.sub(lambda match: _escaped(match.group()), text)


def _marker(left: int) -> str:
    return f"…[{left} more characters]"  # never fewer than two: the marker itself is longer


def shorten(text: str, limit: int) -> str:
    """`text` if it has at most `limit` characters; else its start and a marker saying how much was left out,
    `limit` characters in all. An escape is never cut in two."""
    if len(text) <= limit:
        return text
    kept = limit - len(_marker(len(text)))
    while kept + 1 + len(_marker(len(text) - kept - 1)) <= limit:
        kept += 1
    if kept <= 0:
        return text[: max(limit - 1, 0)] + "…"
    start = text.rfind("\\", max(0, kept - 9), kept)
    escape = _CANDIDATE.match(text, start) if start != -1 else None
    if escape is not None and escape.end() > kept:
        kept = start
    return text[:kept] + _marker(len(text) - kept)


def shown(text: str, limit: int, secrets: Secrets | Iterable[str | None] = ()) -> str:
    """`text` as a person or a model may see it: `one_line`, then `shorten` to `limit` characters."""
    return shorten(one_line(text, secrets), limit)


_URL_PASSWORDS = frozenset(("password", "ssl_password"))
"""Query parameters a client (redis-py) reads as a password."""
_URL_HIDDEN = _URL_PASSWORDS | {"username"}
_MASK = "***"


def _query_pairs(query: str) -> list[tuple[str, str, str]]:
    """(key as a client reads it, lower-cased; value as written; value as a client reads it) for each parameter."""
    pairs = []
    for piece in query.split("&"):
        key, _, value = piece.partition("=")
        pairs.append((unquote_plus(key).strip().lower(), value, unquote_plus(value)))
    return pairs


def url_secrets(url: str) -> tuple[str, ...]:
    """Every password `url` carries (its user information's, its password parameters'), as written and as read."""
    parts = urlsplit(url)
    found: list[str] = []
    userinfo, at, _ = parts.netloc.rpartition("@")
    _, colon, password = userinfo.partition(":")
    if at and colon and password:
        found += [password, unquote(password)]
    found += [
        form for key, written, read in _query_pairs(parts.query) if key in _URL_PASSWORDS for form in (written, read)
    ]
    return tuple(dict.fromkeys(value for value in found if value))


def shown_url(url: str) -> str:
    """`url` for messages and logs: each password and ``username=`` parameter written as ``***``; no fragment."""
    parts = urlsplit(url)
    base, question, _ = url.partition("#")[0].partition("?")
    userinfo, at, hostport = parts.netloc.rpartition("@")
    user, colon, _ = userinfo.partition(":")
    if at and colon:
        base = base.replace(parts.netloc, f"{user}:{_MASK}@{hostport}", 1)
    pieces = parts.query.split("&")
    for index, (key, written, _) in enumerate(_query_pairs(parts.query)):
        if key in _URL_HIDDEN and written:
            pieces[index] = pieces[index].partition("=")[0] + "=" + _MASK
    return base + question + "&".join(pieces)
