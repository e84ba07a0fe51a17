"""Text from the test container made safe for an HTML page: escaped for markup, and JSON that
can sit inside a <script> element without ever ending it."""

from __future__ import annotations

import html
import json
import re

# C0 and C1 controls (tab and newline kept) shown as visible escapes: a terminal escape sequence
# or a NUL in a test's output must neither vanish nor reach the page as a raw control character.
_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_ONE_LINE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
# In a <script> element only "</script" (and "<!--") end or change the parse; escaping every <, >
# and & covers both, and U+2028/2029 are escaped because old JavaScript parsers took them for
# line ends inside strings.
_SCRIPT_UNSAFE = {ord("<"): "\\u003c", ord(">"): "\\u003e", ord("&"): "\\u0026",
                  0x2028: "\\u2028", 0x2029: "\\u2029"}


def _visible(match: re.Match[str]) -> str:
    return f"\\x{ord(match.group()):02x}"


def esc(value: object, cap: int = 100_000) -> str:
    """``value`` as HTML text or attribute content: every <, >, &, quote escaped, controls made
    visible, cut at ``cap`` characters (the cut said)."""
    text = str(value)
    if len(text) > cap:
        text = text[:cap] + f"\n… ({len(text) - cap} more characters cut)"
    return html.escape(_CONTROLS.sub(_visible, text), quote=True)


def size(text: str) -> int:
    """Bytes of ``text`` in the page (UTF-8; a lone surrogate is written as one '?')."""
    return len(text.encode("utf-8", "replace"))


def esc_fit(text: str, chars: int, cap: int, *, end: bool = False) -> str:
    """``text`` escaped (see ``esc``) in at most ``chars`` characters of it and ``cap`` bytes of
    the page, the cut said; ``end``: its end is kept (a traceback ends where it failed), else
    its start. Escaping grows text up to sixfold (``"`` is ``&quot;``): the bound is on the
    escaped bytes, so a text of quotes is cut shorter than one of letters."""
    keep = min(len(text), chars, cap)  # every character takes at least one byte
    while True:
        cut = len(text) - keep
        body = html.escape(_CONTROLS.sub(_visible, text[cut:] if end else text[:keep]), quote=True)
        if not cut:
            out = body
        elif end:
            out = f"(the first {cut} characters cut)\n{body}"
        else:
            out = f"{body}\n… ({cut} more characters cut)"
        over = size(out) - cap
        if over <= 0 or keep == 0:
            return out if over <= 0 else ""
        # Shrink by the share that is over (and at least one character): one or two rounds.
        keep = max(0, min(keep - 1, keep - keep * over // max(1, size(body)) - 8))


def esc_line(value: object, cap: int = 1000) -> str:
    """``value`` escaped on one line (a name, a message in a summary)."""
    text = str(value)
    text = text[:cap] + "…" if len(text) > cap else text
    return html.escape(_ONE_LINE.sub(" ", text), quote=True)


def script_json(value: object) -> str:
    """``value`` as JSON safe inside <script type="application/json">: no character of it can
    close the element or start markup, whatever the strings hold."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return text.translate(_SCRIPT_UNSAFE)


def well_formed(text: str) -> str:
    """``text`` without lone surrogates (json.loads lets "\\ud800" through; UTF-8 cannot hold it)."""
    return text.encode("utf-8", "replace").decode("utf-8")
