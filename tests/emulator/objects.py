"""The API objects a kubelet reads besides the pod: ConfigMaps, Secrets and Services."""

from __future__ import annotations

import base64

from .errors import EmulatorError


class Objects:
    """The ConfigMaps, Secrets and Services among a chart's manifests, by name."""

    def __init__(self, manifests: list[dict]) -> None:
        self.config_maps = {m["metadata"]["name"]: m for m in manifests if m["kind"] == "ConfigMap"}
        self.secrets = {m["metadata"]["name"]: m for m in manifests if m["kind"] == "Secret"}
        self.services = [m for m in manifests if m["kind"] == "Service"]

    def config_map_data(self, name: str) -> dict[str, str]:
        if name not in self.config_maps:
            raise EmulatorError(f"ConfigMap {name!r} is not among the manifests")
        return dict(self.config_maps[name].get("data") or {})

    def secret_data(self, name: str) -> dict[str, str]:
        """A Secret's keys and decoded values (``data`` and ``stringData``)."""
        if name not in self.secrets:
            raise EmulatorError(f"Secret {name!r} is not among the manifests")
        secret = self.secrets[name]
        data = {k: base64.b64decode(v).decode() for k, v in (secret.get("data") or {}).items()}
        data.update(secret.get("stringData") or {})
        return data

    def secret_values(self) -> list[str]:
        """Every value of every Secret."""
        return [value for name in self.secrets for value in self.secret_data(name).values()]

    def service(self, name: str) -> dict:
        for svc in self.services:
            if svc["metadata"]["name"] == name:
                return svc
        raise EmulatorError(f"Service {name!r} is not among the manifests")
