"""Every standard way an API writes an instant: one renderer per form, by name.

The upstream simulators use them to speak like servers we have not met, and the tests use
them to check that ``timestamps.to_epoch_ms`` reads each form back to the same millisecond.
A renderer takes epoch milliseconds and returns what would be on the wire; the forms that
cannot carry milliseconds (seconds-only or date-only ones) drop them, and ``precision`` says
how many milliseconds each form keeps.
"""

from __future__ import annotations

import email.utils
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

Render = Callable[[int], Any]
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_OFFSET = timezone(timedelta(hours=5, minutes=30))
_WHOLE_HOURS = timezone(timedelta(hours=-3))


def _dt(ms: int, tz: timezone = UTC) -> datetime:
    return (_EPOCH + timedelta(milliseconds=ms)).astimezone(tz)


def _iso(ms: int, digits: int = 3, tz: timezone = UTC, sep: str = "T", zone: str = ":",
         z: str = "Z") -> str:
    """ISO-8601 with ``digits`` fractional digits and the zone written as asked:
    ``z`` for UTC (``Z``, ``z``, ``+00:00``, or ``""`` for none), or ``zone`` for an offset
    (``:`` as ``+05:30``, ``""`` as ``+0530``, ``h`` as ``-03``)."""
    d = _dt(ms, tz)
    text = d.strftime(f"%Y-%m-%d{sep}%H:%M:%S")
    if digits:
        text += "." + f"{d.microsecond:06d}{'0' * 3}"[:digits]
    if tz is UTC:
        return text + z
    off = d.strftime("%z")  # +0530
    return text + (off[:3] + ":" + off[3:] if zone == ":" else off[:3] if zone == "h" else off)


FORMS: dict[str, tuple[Render, int]] = {
    # name: (renderer, the step in milliseconds the form keeps)
    "epoch_ms": (lambda ms: ms, 1),
    "epoch_ms_string": (lambda ms: str(ms), 1),
    "epoch_s": (lambda ms: ms / 1000, 1),
    "epoch_s_string": (lambda ms: f"{ms / 1000:.3f}", 1),
    "epoch_s_int": (lambda ms: ms // 1000, 1000),
    "epoch_us": (lambda ms: ms * 1000, 1),
    "epoch_us_string": (lambda ms: str(ms * 1000 + 999), 1),  # sub-ms digits are cut
    "epoch_ns": (lambda ms: ms * 1_000_000 + 123_456, 1),
    "epoch_ns_string": (lambda ms: str(ms * 1_000_000), 1),
    "iso_z": (lambda ms: _iso(ms), 1),
    "iso_lower_z": (lambda ms: _iso(ms, sep="t", z="z"), 1),
    "iso_no_fraction": (lambda ms: _iso(ms, digits=0), 1000),
    "iso_one_digit": (lambda ms: _iso(ms, digits=1), 100),
    "iso_micro_offset": (lambda ms: _iso(ms, digits=6, z="+00:00"), 1),
    "iso_nano": (lambda ms: _iso(ms, digits=9), 1),
    "iso_offset": (lambda ms: _iso(ms, tz=_OFFSET), 1),
    "iso_offset_compact": (lambda ms: _iso(ms, digits=6, tz=_OFFSET, zone=""), 1),
    "iso_offset_hours": (lambda ms: _iso(ms, tz=_WHOLE_HOURS, zone="h"), 1),
    "iso_space": (lambda ms: _iso(ms, sep=" "), 1),
    "iso_naive": (lambda ms: _iso(ms, z=""), 1),  # no zone: read as UTC
    "date": (lambda ms: _dt(ms).strftime("%Y-%m-%d"), 86_400_000),
    "http_date": (lambda ms: email.utils.format_datetime(_dt(ms), usegmt=True), 1000),
    "rfc850": (lambda ms: _dt(ms).strftime("%A, %d-%b-%y %H:%M:%S GMT"), 1000),
    "asctime": (lambda ms: _dt(ms).strftime("%a %b %e %H:%M:%S %Y"), 1000),
}


def render(form: str, ms: int) -> Any:
    return FORMS[form][0](ms)


def kept(form: str, ms: int) -> int:
    """The instant a form can carry: ``ms`` floored to the form's step."""
    return ms - ms % FORMS[form][1]
