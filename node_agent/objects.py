"""The ConfigMaps and Secrets a node agent keeps for container env sources (envFrom,
configMapKeyRef, secretKeyRef), followed by watches; their data as text by name."""

from __future__ import annotations

from node_agent.environment import decode_secret

Key = tuple[str, str]  # (namespace, name)
RESOURCES = {"ConfigMap": "configmaps", "Secret": "secrets"}  # kind -> watched resource


class ObjectCache:
    def __init__(self) -> None:
        self._data: dict[str, dict[Key, dict[str, str]]] = {r: {} for r in RESOURCES.values()}

    @staticmethod
    def _key(obj: dict) -> Key:
        return obj["metadata"].get("namespace", ""), obj["metadata"]["name"]

    @staticmethod
    def _text(resource: str, obj: dict) -> dict[str, str]:
        if resource == "secrets":
            return decode_secret(obj)
        return {k: str(v) for k, v in (obj.get("data") or {}).items()}

    # --- the follower side (kubeloop.follow) ---
    def update(self, resource: str, obj: dict) -> None:
        self._data[resource][self._key(obj)] = self._text(resource, obj)

    def delete(self, resource: str, obj: dict) -> None:
        self._data[resource].pop(self._key(obj), None)

    def resync(self, resource: str, objects: list[dict]) -> None:
        """A fresh list (after a reconnect): what is not in it was deleted meanwhile."""
        self._data[resource] = {self._key(o): self._text(resource, o) for o in objects}

    # --- what env sources read ---
    def lookup(self, kind: str, namespace: str, name: str) -> dict[str, str] | None:
        return self._data.get(RESOURCES.get(kind, ""), {}).get((namespace, name))
