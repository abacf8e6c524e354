"""The CDM Link object's documented shape and which of its inputs are secrets.

A link (``{"name", "connector-name", "link-config-values": {"configs": [{"name": "linkConfig",
"inputs": [...]}]}}``) holds the data source's address and its credentials. CDM flags credential
inputs ``"sensitive": true`` and leaves their value out when it reads a link back; the client drops
them all the same, by flag or by name, so a password never travels further than the HTTP answer.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

LINK_CONFIG_GROUP = "linkConfig"
LINK_INPUT_PREFIX = f"{LINK_CONFIG_GROUP}."

# Input names (after the "linkConfig." prefix) that hold credentials whatever a link says about them:
# passwords, the AK/SK pairs of OBS, DLI and DIS links, tokens, private keys and keytabs.
_SECRET_NAME = re.compile(
    r"pass(word|wd)?$|pwd$|secret|security_?key|access_?key|^ak$|^sk$|token|credential|private_?key|keytab",
    re.IGNORECASE,
)
# Inside a value (a JDBC URL, connection properties): the password of a URL's user info, and the value
# of a secret-named property (``password=...``, ``;pwd=...``).
_URL_PASSWORD = re.compile(r"(//[^/?#@:]*):[^/?#]*@")  # up to the last @: a password may hold one
# Oracle's thin driver: ``jdbc:oracle:thin:user/password@host...``.
_THIN_PASSWORD = re.compile(r"(:thin:[^/@\s]*)/[^\s]*@", re.IGNORECASE)
_SECRET_PROPERTY = re.compile(
    r"((?:^|[?&;,\s])(?:pass(?:word|wd)?|pwd|secret\w*|\w*token|access_?key|secret_?key|security_?key)\s*=)[^&;,\s]*",
    re.IGNORECASE,
)
REDACTED = "***"


def short_input_name(name: str) -> str:
    """``linkConfig.host`` -> ``host`` (a name without the prefix is returned as it is)."""
    return name.removeprefix(LINK_INPUT_PREFIX)


def is_sensitive_input(name: str, item: Mapping[str, object] | None = None) -> bool:
    """Whether a link input holds a credential: flagged ``sensitive`` by CDM, or named like one."""
    if item is not None and item.get("sensitive") in (True, "true", "True"):
        return True
    return bool(_SECRET_NAME.search(short_input_name(name)))


def scrub(value: str) -> str:
    """``value`` with a URL's password (``//user:pw@``, Oracle's ``thin:user/pw@``) and secret-named
    ``key=value`` properties replaced by ``***``."""
    value = _THIN_PASSWORD.sub(rf"\g<1>/{REDACTED}@", _URL_PASSWORD.sub(rf"\g<1>:{REDACTED}@", value))
    return _SECRET_PROPERTY.sub(rf"\g<1>{REDACTED}", value)
