"""Request-controlled text made safe for a log line: control characters (CR, LF, ESC, DEL,
C1, line separators) escaped, so that a client can neither forge log lines nor send terminal
escape sequences to whoever tails the log."""

from __future__ import annotations

_CONTROL = {code: f"\\x{code:02x}" for code in (*range(0x20), 0x7F, *range(0x80, 0xA0))}


def escape_control(text: str) -> str:
    """``text`` with every non-printable character as a ``\\xNN``/``\\uNNNN`` escape."""
    if text.isprintable():  # the common case: one C-level scan
        return text
    text = text.translate(_CONTROL)
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else f"\\u{ord(ch):04x}" for ch in text)
