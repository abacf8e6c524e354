"""A CDM link as the show-link call reports it, stripped of every credential.

Only inputs that are not secrets (:func:`~airflow_provider_cdm.api.link_schema.is_sensitive_input`)
are kept, percent-decoded and scrubbed of embedded passwords (:func:`~airflow_provider_cdm.api.link_schema.scrub`),
under their short names (``host``, not ``linkConfig.host``); the raw answer is not kept at all: a
:class:`Link` can go to a log, a facet or XCom as it is.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from airflow_provider_cdm.api.link_schema import is_sensitive_input, scrub, short_input_name
from airflow_provider_cdm.client.models import ResponseShapeError, as_list, as_object


@dataclass(frozen=True)
class Link:
    """A link: its name, connector and non-secret configuration (``{"host": "10.0.0.5", ...}``)."""

    name: str
    connector: str | None
    config: Mapping[str, str] = field(default_factory=dict)
    enabled: bool | None = None

    @classmethod
    def from_api(cls, data: object) -> Link:
        item = as_object(data, "link")
        values = item.get("link-config-values")
        config: dict[str, str] = {}
        if values is not None:
            for group in as_list(as_object(values, "link-config-values").get("configs"), "configs"):
                for entry in as_list(as_object(group, "config").get("inputs"), "inputs"):
                    entry = as_object(entry, "input")
                    name, value = entry.get("name"), entry.get("value")
                    if not isinstance(name, str) or is_sensitive_input(name, entry):
                        continue
                    if isinstance(value, (str, int, float)) and not isinstance(value, bool):
                        config[short_input_name(name)] = scrub(unquote(str(value)))
                    elif isinstance(value, bool):
                        config[short_input_name(name)] = "true" if value else "false"
        connector = item.get("connector-name")
        enabled = item.get("enabled")
        return cls(
            name=str(item.get("name") or ""),
            connector=connector if isinstance(connector, str) else None,
            config=config,
            enabled=enabled if isinstance(enabled, bool) else None,
        )

    def value(self, name: str) -> str | None:
        """A non-secret input by its short or full name; None when absent or blank."""
        found = (self.config.get(short_input_name(name)) or "").strip()
        return found or None

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "connector": self.connector, "config": dict(self.config), "enabled": self.enabled}


def link_from_answer(document: object, link_name: str) -> Link:
    """The link named ``link_name`` in a show-link answer (``{"links": [Link]}``)."""
    for item in as_list(as_object(document, "answer").get("links"), "links"):
        link = Link.from_api(item)
        if link.name == link_name:
            return link
    raise ResponseShapeError(f"the answer holds no link named {link_name!r}")
