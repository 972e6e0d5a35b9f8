"""`attributes` and `excludedAttributes` (RFC 7644 §3.4.2.5, §3.9): which attributes an answer carries."""

from __future__ import annotations

import copy
from typing import Any

# Core schema URNs an attribute path may be written under; an extension's URN is a key of the resource itself.
CORE_PREFIXES = ("urn:ietf:params:scim:schemas:core:2.0:user:", "urn:ietf:params:scim:schemas:core:2.0:group:")
ALWAYS = {"id", "schemas"}  # returned "always" (RFC 7643 §3.1, §8.7.1): neither parameter removes them

Path = tuple[str, ...]


def project(body: dict[str, Any], *, attributes: str | None, excluded: str | None) -> dict[str, Any]:
    """`body` with only the attributes asked for, or without the ones excluded (names case-insensitive)."""
    if attributes:
        out = {key: value for key, value in body.items() if key.lower() in ALWAYS}
        for path in _paths(body, attributes):
            _copy(body, out, path)
        return out
    if excluded:
        out = copy.deepcopy(body)
        for path in _paths(body, excluded):
            _drop(out, path)
        return out
    return body


def _paths(body: dict[str, Any], text: str) -> list[Path]:
    extensions = [key for key in body if key.lower().startswith("urn:")]
    paths: list[Path] = []
    for raw in text.split(","):
        name = raw.strip().lower()
        for prefix in CORE_PREFIXES:
            if name.startswith(prefix):
                name = name[len(prefix) :]
                break
        else:
            urn = next((key for key in extensions if name.startswith(key.lower())), None)
            if urn is not None:
                rest = name[len(urn) :].lstrip(":")
                paths.append((urn.lower(), *rest.split(".")) if rest else (urn.lower(),))
                continue
        if name:
            paths.append(tuple(name.split(".")))
    return paths


def _key(node: dict[str, Any], name: str) -> str | None:
    return next((key for key in node if key.lower() == name), None)


def _copy(src: dict[str, Any], dst: dict[str, Any], path: Path) -> None:
    key = _key(src, path[0])
    if key is None:
        return
    value = src[key]
    if len(path) == 1:
        dst[key] = copy.deepcopy(value)
    elif isinstance(value, dict):
        _copy(value, dst.setdefault(key, {}), path[1:])
    elif isinstance(value, list):
        items = dst.setdefault(key, [{} for _ in value])
        for item, picked in zip(value, items, strict=False):
            if isinstance(item, dict) and isinstance(picked, dict):
                _copy(item, picked, path[1:])


def _drop(node: dict[str, Any], path: Path) -> None:
    key = _key(node, path[0])
    if key is None or (len(path) == 1 and key.lower() in ALWAYS):
        return
    if len(path) == 1:
        del node[key]
        return
    value = node[key]
    for item in value if isinstance(value, list) else [value]:
        if isinstance(item, dict):
            _drop(item, path[1:])
