"""The ConfigMaps and Secrets a node agent keeps for container env sources (envFrom,
configMapKeyRef, secretKeyRef), followed by watches; their data as text by name."""

from __future__ import annotations

from node_agent.environment import decode_secret

Key = tuple[str, str]  # (namespace, name)


class ObjectCache:
    KINDS = {"ConfigMap": "configmaps", "Secret": "secrets"}  # kind -> watched resource

    def __init__(self) -> None:
        self._data: dict[str, dict[Key, dict[str, str]]] = {kind: {} for kind in self.KINDS}

    @staticmethod
    def _key(obj: dict) -> Key:
        return obj["metadata"].get("namespace", ""), obj["metadata"]["name"]

    @staticmethod
    def _text(kind: str, obj: dict) -> dict[str, str]:
        if kind == "Secret":
            return decode_secret(obj)
        return {k: str(v) for k, v in (obj.get("data") or {}).items()}

    def put(self, kind: str, obj: dict) -> None:
        self._data[kind][self._key(obj)] = self._text(kind, obj)

    def remove(self, kind: str, obj: dict) -> None:
        self._data[kind].pop(self._key(obj), None)

    def replace(self, kind: str, objs: list[dict]) -> None:
        """A fresh list (after a reconnect): what is not in it was deleted meanwhile."""
        self._data[kind] = {self._key(o): self._text(kind, o) for o in objs}

    def lookup(self, kind: str, namespace: str, name: str) -> dict[str, str] | None:
        return self._data.get(kind, {}).get((namespace, name))
