"""Request ids: a sane incoming ``X-Request-ID`` is kept, anything else (missing, too long,
odd characters, CRLF) is replaced by a new id. The id is echoed in the response, bound to
every log line of the request and forwarded by the SDK's HTTP client (see
:mod:`fastflyer.middleware.core`, which applies it)."""

from __future__ import annotations

import itertools
import os
import re

HEADER = b"x-request-id"
VALID_ID = re.compile(rb"[A-Za-z0-9._:=+/@-]{1,128}")

# 32 hex digits, unique without a system call per request: a random prefix per process
# (drawn again in every forked worker) and a counter.
_prefix = os.urandom(8).hex()
_counter = itertools.count(1)


def _reseed() -> None:
    global _prefix, _counter
    _prefix = os.urandom(8).hex()
    _counter = itertools.count(1)


os.register_at_fork(after_in_child=_reseed)


def new_request_id() -> str:
    return f"{_prefix}{next(_counter) & 0xFFFFFFFFFFFFFFFF:016x}"


def accepted_request_id(value: bytes) -> str | None:
    """The incoming header value as the request's id, or None when it is not acceptable."""
    return value.decode("ascii") if VALID_ID.fullmatch(value) else None
