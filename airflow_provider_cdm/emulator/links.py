"""The emulator's CDM links: defined from the command line or the admin API, read through show link.

A link is defined in CDM's own create-link shape (``{"links": [Link]}``), so a body written for the
real API defines it here too. Read back, a link answers as the show-link API documents it: inputs
CDM deems sensitive (by flag or by name, :func:`~airflow_provider_cdm.api.link_schema.is_sensitive_input`)
carry ``"sensitive": true`` and no value; other values are percent-encoded as job values are.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from airflow_provider_cdm.api import errors
from airflow_provider_cdm.api.endpoints import LIST_ALL_LINKS
from airflow_provider_cdm.api.job_schema import CONNECTORS, to_cdm_string
from airflow_provider_cdm.api.link_schema import LINK_CONFIG_GROUP, LINK_INPUT_PREFIX, is_sensitive_input
from airflow_provider_cdm.emulator.errors import ApiError
from airflow_provider_cdm.emulator.runs import JsonDict, epoch_millis

LINK_OWNER = "cdm"  # the creation-user of links the emulator was given (the documented sample's)


@dataclass(frozen=True)
class LinkSpec:
    """A link as defined: name, connector and its inputs as (full input name, value) pairs."""

    name: str
    connector: str
    inputs: tuple[tuple[str, str], ...] = ()
    enabled: bool = True

    @classmethod
    def from_api(cls, link: object) -> LinkSpec:
        """A CDM Link object; ValueError saying what is wrong (never quoting a value)."""
        if not isinstance(link, Mapping):
            raise ValueError("a link must be a JSON object")
        name, connector = link.get("name"), link.get("connector-name")
        if not isinstance(name, str) or not name.strip() or "/" in name or "\\" in name:
            raise ValueError(f"link name {name!r} must be a non-empty string without '/' or '\\'")
        if name.strip().lower() == LIST_ALL_LINKS:
            raise ValueError(f"link name {name!r} is reserved: show link with it lists every link")
        if connector not in CONNECTORS:
            raise ValueError(f"link {name!r}: connector-name {connector!r} is not one of {sorted(CONNECTORS)}")
        values = link.get("link-config-values") or {}
        configs = values.get("configs") if isinstance(values, Mapping) else None
        if not isinstance(configs, list):
            raise ValueError(f'link {name!r}: link-config-values must be {{"configs": [...]}}')
        inputs: list[tuple[str, str]] = []
        for config in configs:
            items = config.get("inputs") if isinstance(config, Mapping) else None
            if not isinstance(items, list):
                raise ValueError(f"link {name!r}: each config needs an inputs list")
            for item in items:
                input_name = item.get("name") if isinstance(item, Mapping) else None
                if not isinstance(input_name, str) or not input_name.startswith(LINK_INPUT_PREFIX):
                    raise ValueError(f"link {name!r}: input name {input_name!r} must start with {LINK_INPUT_PREFIX!r}")
                try:
                    inputs.append((input_name, to_cdm_string(item.get("value"))))
                except TypeError:
                    raise ValueError(f"link {name!r}: input {input_name} needs a string value") from None
        enabled = link.get("enabled", True)
        return cls(name, str(connector), tuple(inputs), enabled if isinstance(enabled, bool) else True)

    @classmethod
    def declared(cls, name: str, connector: str) -> LinkSpec:
        """A link known only by name and connector (``--link NAME=CONNECTOR``)."""
        return cls(name, connector)

    def render(self, created_at: float) -> JsonDict:
        """The Link object as show link answers it."""
        inputs: list[JsonDict] = []
        for input_name, value in self.inputs:
            item: JsonDict = {"name": input_name, "type": "STRING"}
            if is_sensitive_input(input_name):
                item["sensitive"] = True
            else:
                item["value"] = quote(value, safe="")
            inputs.append(item)
        return {
            "link-config-values": {"configs": [{"name": LINK_CONFIG_GROUP, "inputs": inputs}]},
            "creation-user": LINK_OWNER,
            "name": self.name,
            "creation-date": epoch_millis(created_at),
            "connector-name": self.connector,
            "update-date": epoch_millis(created_at),
            "enabled": self.enabled,
            "update-user": LINK_OWNER,
        }


def link_specs(body: object) -> list[LinkSpec]:
    """The links of a create-link style body ``{"links": [Link, ...]}``; ValueError when malformed."""
    links = body.get("links") if isinstance(body, Mapping) else None
    if not isinstance(links, list) or not links:
        raise ValueError('the body must be {"links": [Link, ...]} with at least one link')
    specs = [LinkSpec.from_api(link) for link in links]
    names = [spec.name for spec in specs]
    if len(set(names)) != len(names):
        raise ValueError("link names must be unique")
    return specs


class LinkStore:
    """The links every cluster of the emulator has; thread-safe, back to the initial ones on reset."""

    def __init__(
        self, initial: Iterable[LinkSpec] | Mapping[str, str] = (), clock: Callable[[], float] = time.time
    ) -> None:
        if isinstance(initial, Mapping):
            initial = [LinkSpec.declared(name, connector) for name, connector in initial.items()]
        self._initial = tuple(initial)
        self._clock = clock
        self._lock = threading.Lock()
        self._links: dict[str, tuple[LinkSpec, float]] = {}
        self.reset()

    def reset(self) -> None:
        now = self._clock()
        with self._lock:
            self._links = {spec.name: (spec, now) for spec in self._initial}

    def define(self, specs: Iterable[LinkSpec]) -> list[str]:
        """Create or replace links; their names."""
        now = self._clock()
        with self._lock:
            for spec in specs:
                self._links[spec.name] = (spec, now)
            return sorted(self._links)

    def connector(self, name: str) -> str | None:
        with self._lock:
            found = self._links.get(name)
        return found[0].connector if found else None

    def show(self, name: str) -> JsonDict:
        """The show-link answer for one link (``all``: every link); Cdm.0101 for an unknown one."""
        with self._lock:
            if name == LIST_ALL_LINKS:
                chosen = sorted(self._links.values(), key=lambda found: found[0].name)
            elif name in self._links:
                chosen = [self._links[name]]
            else:
                raise ApiError(errors.CDM_LINK_NOT_EXIST, link=name)
            return {"links": [spec.render(created_at) for spec, created_at in chosen]}

    def summary(self) -> list[dict[str, Any]]:
        """Name, connector and input names (never values) of each link, for the admin view."""
        with self._lock:
            return [
                {"name": spec.name, "connector": spec.connector, "inputs": [name for name, _ in spec.inputs]}
                for spec, _ in sorted(self._links.values(), key=lambda found: found[0].name)
            ]
