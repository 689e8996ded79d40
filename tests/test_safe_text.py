"""`safe_text`: the one policy for hidden characters and secrets, and the one way text is shortened."""

from __future__ import annotations

import json
import unicodedata

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from snapshot_mcp.safe_text import (
    MIN_SECRET_LENGTH,
    REDACTED,
    Secrets,
    is_hidden,
    one_line,
    shorten,
    shown,
    shown_url,
    url_secrets,
    visible,
)

SECRET = "s3cret-Token-42"


HIDDEN = {
    "nul": "\x00",
    "bell": "\x07",
    "backspace": "\x08",
    "escape": "\x1b",
    "delete": "\x7f",
    "c1-csi": "\x9b",
    "right-to-left-override": "\u202e",
    "left-to-right-isolate": "\u2066",
    "zero-width-space": "\u200b",
    "zero-width-joiner": "\u200d",
    "byte-order-mark": "\ufeff",
    "soft-hyphen": "\u00ad",
    "private-use": "\ue000",
    "surrogate": "\ud800",
    "tag-letter": "\U000e0041",
}


BREAKS = {
    "tab": "\t",
    "line-feed": "\n",
    "carriage-return": "\r",
    "vertical-tab": "\x0b",
    "form-feed": "\x0c",
    "file-separator": "\x1c",
    "next-line": "\x85",
    "line-separator": "\u2028",
    "paragraph-separator": "\u2029",
}


@pytest.mark.parametrize("ch", HIDDEN.values(), ids=HIDDEN.keys())
def test_a_hidden_character_is_escaped_never_dropped(ch: str) -> None:
    code = ord(ch)
    escape = f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"
    assert is_hidden(ch)
    assert one_line(f"a{ch}b") == f"a{escape}b"
    assert one_line(f"a{ch}b").isprintable()


@pytest.mark.parametrize("ch", BREAKS.values(), ids=BREAKS.keys())
def test_a_line_break_or_whitespace_control_becomes_one_space(ch: str) -> None:
    assert not is_hidden(ch)
    assert one_line(f"a{ch}b") == "a b"
    assert one_line(f"a{ch}{ch}b") == "a  b"


@pytest.mark.parametrize(
    "text", ["plain ascii", "Schnappschuß 📸 v2", "non\u00a0breaking", "日本語のスナップショット", "a\\u200bb"]
)
def test_visible_text_is_left_alone(text: str) -> None:
    """Printable text (non-ASCII included, and text that merely looks like an escape) passes unchanged."""
    assert one_line(text) == text


def test_one_line_is_idempotent() -> None:
    once = one_line("a\x1b[31m\u202eb\nc\U000e0041")
    assert one_line(once) == once


def test_visible_drops_hidden_characters_raw_or_escaped() -> None:
    assert visible("a\u200bb\\u202ec\x00d") == "abcd"
    assert visible("a\\u0041b") == "a\\u0041b"  # an escaped letter is not hidden


def test_a_secret_shorter_than_the_minimum_is_not_searched_for() -> None:
    """The minimum is the command's minimum API token: shorter values would match ordinary words."""
    short, long = "x" * (MIN_SECRET_LENGTH - 1), "y" * MIN_SECRET_LENGTH
    assert Secrets([short, None]).values == ()
    assert not Secrets([short])
    assert Secrets([short, long]).redact(f"{short} {long}") == f"{short} {REDACTED}"


def test_the_longest_secret_is_redacted_first() -> None:
    """A secret that contains another leaves no tail of itself behind."""
    assert Secrets(["abcdefgh", "abcdefgh-and-more"]).redact("<abcdefgh-and-more>") == f"<{REDACTED}>"


@pytest.mark.parametrize("ch", HIDDEN.values(), ids=HIDDEN.keys())
def test_a_secret_split_by_hidden_characters_is_redacted_whole(ch: str) -> None:
    """Ignored while looking, and replaced with the secret: from its first letter to its last."""
    split = SECRET[:3] + ch + SECRET[3:9] + ch + ch + SECRET[9:]
    assert Secrets([SECRET]).redact(f"<{split}>") == f"<{REDACTED}>"
    assert one_line(f"<{split}>", [SECRET]) == f"<{REDACTED}>"


@pytest.mark.parametrize("ch", HIDDEN.values(), ids=HIDDEN.keys())
def test_a_secret_split_by_escaped_hidden_characters_is_redacted_too(ch: str) -> None:
    """Escaped already (by us, or JSON): found all the same, in the order the layers happen to run."""
    escaped = one_line(SECRET[:4] + ch + SECRET[4:])
    assert Secrets([SECRET]).redact(escaped) == REDACTED
    assert Secrets([SECRET]).found_in(json.dumps({"name": SECRET[:4] + ch + SECRET[4:]}))
    assert Secrets([SECRET]).found_in(json.dumps({"name": escaped}))


@pytest.mark.parametrize("between", [" ", "\n", "-", "\\u0041"])
def test_a_secret_split_by_something_visible_is_not_the_secret(between: str) -> None:
    text = SECRET[:4] + between + SECRET[4:]
    assert Secrets([SECRET]).redact(text) == text
    assert not Secrets([SECRET]).found_in(text)


def test_secrets_are_found_in_json_text() -> None:
    """found_in reads JSON as it is written: a secret with quotes or a backslash, escaped there."""
    odd = 'quo"te\\back-slash'
    assert Secrets([odd]).found_in(json.dumps({"k": f"x{odd}y"}))
    assert not Secrets([odd]).found_in(json.dumps({"k": "nothing"}))


def test_every_occurrence_is_redacted() -> None:
    text = f"{SECRET} and {SECRET[:5]}\u200b{SECRET[5:]} and {SECRET}"
    assert Secrets([SECRET]).redact(text) == f"{REDACTED} and {REDACTED} and {REDACTED}"


@pytest.mark.parametrize("length", [1, 199, 200])
def test_text_within_the_limit_is_not_cut(length: int) -> None:
    assert shorten("n" * length, 200) == "n" * length


@pytest.mark.parametrize("length", [201, 255, 10_000, 200_000])
def test_a_cut_says_how_much_was_left_out_within_the_limit(length: int) -> None:
    cut = shorten("n" * length, 200)
    kept = cut.index("…")
    assert len(cut) == 200
    assert cut.endswith(f"…[{length - kept} more characters]")
    assert cut[:kept] == "n" * kept


def test_a_cut_just_past_the_limit_makes_room_for_its_marker() -> None:
    assert shorten("abcdefghijklmnopqrstuvwxyz", 25) == "abcd…[22 more characters]"


def test_a_limit_too_small_for_the_marker_still_bounds() -> None:
    assert shorten("n" * 100, 5) == "nnnn…"


def test_an_escape_is_never_cut_in_two() -> None:
    text = one_line("n" * 176 + "\u200b" * 10)
    for limit in range(190, 200):
        cut = shorten(text, limit)
        assert len(cut) <= limit
        head = cut[: cut.index("…")]
        assert head.endswith(("n", "\\u200b")), head[-8:]


def test_shown_redacts_before_it_cuts() -> None:
    """A secret at the cut-off point leaves no fragment of itself."""
    text = "x" * 190 + SECRET
    assert SECRET[:4] not in shown(text, 200, [SECRET])
    assert REDACTED in shown(text, 220, [SECRET])


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("redis://:hunter2secret@cache:6379/0", "redis://:***@cache:6379/0"),
        ("rediss://app:hunter2secret@cache.internal/1", "rediss://app:***@cache.internal/1"),
        ("redis://cache:6379/0", "redis://cache:6379/0"),
        ("redis://cache:6379/0?password=hunter2secret", "redis://cache:6379/0?password=***"),
        ("redis://cache/0?db=1&username=app&password=hunter2secret", "redis://cache/0?db=1&username=***&password=***"),
        ("redis://cache/0?Password=a%20b&ssl_password=hunter2secret", "redis://cache/0?Password=***&ssl_password=***"),
        ("redis://cache/0?pass%77ord=hunter2secret", "redis://cache/0?pass%77ord=***"),
        ("redis://u:p%40ss@cache/0?password=x&password=y", "redis://u:***@cache/0?password=***&password=***"),
        ("redis://cache/0?password=", "redis://cache/0?password="),
        ("unix:///run/redis.sock?db=0&password=hunter2secret", "unix:///run/redis.sock?db=0&password=***"),
        ("redis://cache/0#hunter2secret", "redis://cache/0"),
        ("redis://:pw@cache:notaport/0", "redis://:***@cache:notaport/0"),
    ],
)
def test_a_url_is_shown_without_any_password(url: str, shown: str) -> None:
    """In the user information or in a query parameter a client reads as one; a username= parameter too."""
    assert shown_url(url) == shown


@pytest.mark.parametrize(
    ("url", "secrets"),
    [
        ("redis://:hunter2secret@cache:6379/0", ("hunter2secret",)),
        ("redis://app:p%40ssword-x@cache/0", ("p%40ssword-x", "p@ssword-x")),
        ("redis://cache/0?password=hunter2secret", ("hunter2secret",)),
        ("redis://cache/0?db=1&ssl_password=tls%2Bkey-pw", ("tls%2Bkey-pw", "tls+key-pw")),
        ("redis://cache/0?pass%77ord=hunter2secret", ("hunter2secret",)),
        ("redis://a:one-password@cache/0?password=two-password", ("one-password", "two-password")),
        ("redis://app@cache/0?username=app&db=2", ()),
        ("redis://cache:6379/0", ()),
    ],
)
def test_every_password_in_a_url_is_a_secret(url: str, secrets: tuple[str, ...]) -> None:
    """As written and as a client reads it (percent-decoded); a username is not a secret (it would match words)."""
    assert url_secrets(url) == secrets


def _per_character(text: str) -> str:
    """Text shown character by character: whitespace controls and line breaks as spaces, hidden ones escaped."""
    shown = []
    for ch in text:
        category = unicodedata.category(ch)
        if ch.isspace():
            shown.append(" " if category in ("Cc", "Zl", "Zp") else ch)
        elif category in ("Cc", "Cf", "Co", "Cs"):
            shown.append(f"\\u{ord(ch):04x}" if ord(ch) <= 0xFFFF else f"\\U{ord(ch):08x}")
        else:
            shown.append(ch)
    return "".join(shown)


@settings(max_examples=1000, deadline=None)
@pytest.mark.slow  # hypothesis: a thousand examples
@given(st.text(max_size=80) | st.text(st.characters(codec="ascii"), max_size=80))
def test_one_line_shows_every_character_by_the_one_rule(text: str) -> None:
    """Text with nothing to escape comes back as it is (the same object); other text character by character."""
    assert one_line(text) == _per_character(text)
    if text.isprintable():
        assert one_line(text) is text


@settings(max_examples=500, deadline=None)
@pytest.mark.slow  # hypothesis: hundreds of examples
@given(
    st.text(st.characters(exclude_categories=("Cc", "Cf", "Co", "Cs", "Zl", "Zp", "Zs")), min_size=8, max_size=20),
    st.lists(st.text(st.characters(exclude_categories=("Cc", "Cf", "Co", "Cs", "Zl", "Zp")), max_size=12), max_size=4),
)
def test_text_without_anything_hidden_is_redacted_by_plain_replacement(secret: str, pieces: list[str]) -> None:
    """Printable text without a backslash holds no hidden character to look past: each secret is replaced where it
    stands, and found only where it stands (the short cut equals the long way)."""
    text = secret.join(pieces)
    assume("\\" not in text and text.isprintable())
    secrets = Secrets([secret])
    forms = (secret, json.dumps(secret)[1:-1])
    assert secrets.redact(text) == text.replace(secret, REDACTED)
    assert secrets.found_in(text) == any(form in text for form in forms)
    assert one_line(text, secrets) == text.replace(secret, REDACTED)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("plain name", "plain name"),
        ("line\nbreak\ttab", "line break tab"),
        ("bidi\u202eoverride", "bidi\\u202eoverride"),
        ("zero\u200bwidth", "zero\\u200bwidth"),
        ("nbsp\u00a0kept", "nbsp\u00a0kept"),
        ("tag\U000e0041letter", "tag\\U000e0041letter"),
    ],
)
def test_one_line_examples(text: str, expected: str) -> None:
    assert one_line(text) == expected
