"""Errors as people read them: in one line."""

from __future__ import annotations


def first_line(exc: BaseException) -> str:
    """An exception in one line: its message's first line, else its type (a TimeoutError
    from a Kafka client has no message)."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
