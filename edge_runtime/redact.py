"""Credentials never leave the daemon: URLs lose their passwords wherever they are shown or saved.

``SecretStr`` fields (MQTT password, webhook headers) already dump as ``**********``; a password
inside a URL (``rtsp://admin:secret@cam``, ``https://user:token@host/hook``) is a plain string, so
every dump that leaves the process (``/status``, the saved configuration, log lines) goes through
``redact``.
"""

from __future__ import annotations

import re
from typing import Any

_SCHEME = re.compile(r"^([a-z][a-z0-9+.-]*://)(.*)$", re.IGNORECASE | re.DOTALL)


def redact_url(source: str) -> str:
    """``rtsp://user:secret@host/x`` -> ``rtsp://user:***@host/x``; anything else unchanged.

    The user info ends at the LAST ``@``: passwords with ``@`` or ``/`` in them (cameras accept
    them unescaped) are hidden whole rather than cut at their first odd character.
    """
    match = _SCHEME.match(source)
    if match is None or "@" not in match.group(2):
        return source
    userinfo, _, rest = match.group(2).rpartition("@")
    if ":" not in userinfo:
        return source  # a user name alone is no secret
    return f"{match.group(1)}{userinfo.split(':', 1)[0]}:***@{rest}"


def redact(data: Any) -> Any:
    """A copy of a JSON-like structure with every URL's password replaced by ``***``."""
    if isinstance(data, dict):
        return {key: redact(value) for key, value in data.items()}
    if isinstance(data, list | tuple):
        return [redact(value) for value in data]
    return redact_url(data) if isinstance(data, str) else data
