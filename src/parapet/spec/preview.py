"""What an error message may quote of a user's value: a bounded preview, whatever the value's size.

A spec can make a value of any size: a megabyte scalar, or nine levels of YAML aliases that stand for
hundreds of millions of items while the loaded data shares them. ``repr`` of such a value would take
minutes and gigabytes; ``preview`` looks at a few items of a few levels and at most ``LIMIT`` characters.
"""

from __future__ import annotations

import reprlib

LIMIT = 200

_REPR = reprlib.Repr()
_REPR.maxlevel = 2
_REPR.maxlist = _REPR.maxtuple = _REPR.maxset = _REPR.maxdict = 3
_REPR.maxstring = LIMIT
_REPR.maxother = LIMIT
_REPR.maxlong = LIMIT


def preview(value: object) -> str:
    """``repr(value)`` for a small value; for a large one, its beginning and how long it is."""
    if isinstance(value, str):
        if len(value) <= LIMIT:
            return repr(value)
        return repr(value[:LIMIT]) + f"… ({len(value)} characters)"
    if isinstance(value, int) and value.bit_length() > 4 * LIMIT:
        return f"an integer of {len(format(value, 'x'))} hex digits"
    try:
        return _REPR.repr(value)
    except ValueError:  # an integer too long for Python to print, deeper inside
        return f"{type(value).__name__} (too large to show)"


def describe(value: object) -> str:
    """A value's kind and a preview of it, as a message says what it got: ``the string 'x'``, ``a list``."""
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return f"the string {preview(value)}"
    return f"{type(value).__name__} {preview(value)}"
