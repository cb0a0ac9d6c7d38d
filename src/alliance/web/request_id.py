"""Request ids: the client's own when it is a plain token, else a fresh one, to find log lines."""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping

REQUEST_ID_HEADER = "X-Request-ID"
# A client's id goes into logs and headers: nothing that could break a line or a header.
_INCOMING_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")


def choose_request_id(headers: Mapping[str, str]) -> str:
    """The id the request came with, if well formed, else a new random one."""
    incoming = headers.get(REQUEST_ID_HEADER.lower(), "")
    return incoming if _INCOMING_ID.match(incoming) else uuid.uuid4().hex
