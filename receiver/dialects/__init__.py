"""The dialect registry and `auto` detection.

Every public module or package under `receiver.dialects` that exports `DIALECT` is a dialect; adding a
provider means adding one such module, nothing else.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Mapping
from functools import cache
from typing import Any

from receiver.dialects.base import Dialect, Unidentifiable, decode_json

AUTO = "auto"


@cache
def registry() -> Mapping[str, Dialect]:
    """Every dialect, by name, discovered once."""
    found: dict[str, Dialect] = {}
    for module_info in pkgutil.iter_modules(__path__):
        if module_info.name.startswith("_") or module_info.name == "base":
            continue
        module = importlib.import_module(f"{__name__}.{module_info.name}")
        dialect = getattr(module, "DIALECT", None)
        if isinstance(dialect, Dialect):
            found[dialect.name] = dialect
    return dict(sorted(found.items()))


def get(name: str) -> Dialect:
    try:
        return registry()[name]
    except KeyError:
        known = ", ".join([*registry(), AUTO])
        raise KeyError(f"unknown dialect {name!r}; known dialects: {known}") from None


def detect(body: bytes, headers: Mapping[str, str]) -> tuple[Dialect, Any]:
    """Find the dialect a body is in and return it with the decoded document.

    The body is decoded once as JSON and offered to every dialect's `detect`; dialects with an encoding of
    their own (Alibaba's queue path sends Base64) then get to decode it themselves.
    """
    dialects = list(registry().values())
    json_error: Unidentifiable | None = None
    document: Any = None
    try:
        document = decode_json(body)
    except Unidentifiable as exc:
        json_error = exc
    else:
        for dialect in dialects:
            if dialect.detect(document, headers):
                return dialect, document
    for dialect in dialects:
        if type(dialect).decode is Dialect.decode:
            continue
        try:
            own = dialect.decode(body)
        except Unidentifiable:
            continue
        if dialect.detect(own, headers):
            return dialect, own
    if json_error is not None:
        raise json_error
    raise Unidentifiable("no dialect recognises this body", "$", _shape(document))


def _shape(document: Any) -> Any:
    if isinstance(document, dict):
        return sorted(document)[:12]
    return type(document).__name__
