"""Building pydantic-core validators and serializers from edited core schemas (the dialects' fast path, the
event id's serializer)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator

from pydantic import BaseModel


@contextlib.contextmanager
def edited(models: Iterable[type[BaseModel]]) -> Iterator[None]:
    """Build a `SchemaValidator`/`SchemaSerializer` inside this block so that it uses the edited schemas of
    `models`, as written in the schema it is given.

    pydantic-core reuses the validator or serializer a model already has for any complete model it meets in a
    schema, edits or not; a model that looks incomplete it builds from the schema. So the models look
    incomplete for the build only (done at import time, under the import lock, so nothing else sees them so).
    """
    models = list(models)
    for model in models:
        model.__pydantic_complete__ = False
    try:
        yield
    finally:
        for model in models:
            model.__pydantic_complete__ = True
