"""The errors Alliance raises on purpose, under one base.

An `AllianceError` is an expected refusal (bad input, an unknown object, a rule not met): its
message names the field, the value and what is allowed, holds no client content, and is safe to
show to the person who asked. The CLI prints it and exits 2; the web app turns it into a 4xx.
Anything else that escapes is a bug and is allowed to crash loudly.
"""

from __future__ import annotations


class AllianceError(Exception):
    """Base of every error raised on purpose; the message is safe to show."""
