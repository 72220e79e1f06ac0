"""Lenient readers for loosely typed provider values, shared by every dialect.

Providers send numbers as strings, JSON inside strings, zero or malformed timestamps and keys with stray
spaces. These helpers degrade per field: a value that cannot be read becomes None and a warning naming the
field path and the value, never an exception for the whole payload.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any, TypeVar

from pydantic import BaseModel, BeforeValidator, TypeAdapter, ValidationError
from pydantic_core import from_json

from receiver.dialects.base import Unidentifiable
from receiver.model import Output

_ZERO_TIMES = {"0000-00-00T00:00:00Z", "0000-00-00 00:00:00", "0000-00-00T00:00:00.000Z", ""}
# 2019-01-23T12:35:12:123Z (Alibaba's ":SSS" milliseconds) or …12.123Z, with optional zone.
_ISO = re.compile(
    r"^(?P<date>\d{4}-\d{2}-\d{2})[T ](?P<time>\d{2}:\d{2}:\d{2})(?:[.:](?P<frac>\d{1,9}))?"
    r"(?P<zone>Z|[+-]\d{2}:?\d{2})?$"
)
_NUMBER = re.compile(r"-?\d+(\.\d+)?")


def strip_keys(value: Any) -> Any:
    """Return `value` with every object key stripped of surrounding white space (Alibaba sends `"Status "`)."""
    if isinstance(value, dict):
        return {(k.strip() if isinstance(k, str) else k): strip_keys(v) for k, v in value.items()}
    if isinstance(value, list):
        return [strip_keys(v) for v in value]
    return value


class Lenient:
    """Reads loosely typed values, collecting a warning for each one it has to give up on."""

    def __init__(self) -> None:
        self.warnings: list[str] = []

    def warn(self, path: str, value: Any, problem: str) -> None:
        shown = repr(value)
        if len(shown) > 120:
            shown = shown[:120] + "…"
        self.warnings.append(f"{path}: {problem} (got {shown})")

    # numbers -------------------------------------------------------------------------------------------

    def int_(self, value: Any, path: str) -> int | None:
        if value is None or value == "":
            return None
        if isinstance(value, bool):
            return int(value)
        if isinstance(value, int):
            return value
        if isinstance(value, float) and math.isfinite(value) and value.is_integer():
            return int(value)
        if isinstance(value, float) and math.isfinite(value):
            return round(value)
        if isinstance(value, str):
            text = value.strip()
            try:
                return int(text)
            except ValueError:
                try:
                    number = float(text)
                except ValueError:
                    pass
                else:
                    if math.isfinite(number):
                        return round(number)
        self.warn(path, value, "not an integer")
        return None

    def float_(self, value: Any, path: str) -> float | None:
        if value is None or value == "":
            return None
        if isinstance(value, bool):
            return float(value)
        if isinstance(value, int | float):
            number = float(value)
        elif isinstance(value, str):
            try:
                number = float(value.strip())
            except ValueError:
                self.warn(path, value, "not a number")
                return None
        else:
            self.warn(path, value, "not a number")
            return None
        if not math.isfinite(number):
            self.warn(path, value, "not a finite number")
            return None
        return number

    def str_(self, value: Any, path: str) -> str | None:
        """A string, or a scalar rendered as one; None and "" are None."""
        if value is None or value == "":
            return None
        if isinstance(value, str):
            return value
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, int | float):
            return str(value)
        self.warn(path, value, "not a string")
        return None

    def code_(self, value: Any, path: str) -> str | None:
        """An error or status code kept as text (providers mix ints, numeric strings and names)."""
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        return self.str_(value, path)

    # times ---------------------------------------------------------------------------------------------

    def time_(self, value: Any, path: str) -> datetime | None:
        """A UTC datetime from unix seconds (or ms), an ISO-8601 string, or None for zero/unset."""
        parsed, problem = read_time(value)
        if problem is not None:
            self.warn(path, value, problem)
        return parsed

    # structure -----------------------------------------------------------------------------------------

    def json_(self, value: Any, path: str) -> Any:
        """A value that may arrive as JSON inside a string, possibly encoded twice."""
        for _ in range(3):
            if not isinstance(value, str):
                return value
            text = value.strip()
            if not text:
                return None
            try:
                value = loads(text)
            except json.JSONDecodeError:
                self.warn(path, text, "not valid JSON")
                return None
        return value

    def list_(self, value: Any, path: str) -> list[Any]:
        """A list; a JSON string holding one, a lone object (wrapped), or [] with a warning."""
        value = self.json_(value, path)
        if value is None:
            return []
        if isinstance(value, list):
            return value
        if isinstance(value, dict):
            return [value]
        self.warn(path, value, "not a list")
        return []

    def dict_(self, value: Any, path: str) -> dict[str, Any]:
        """An object; a JSON string holding one, or {} with a warning."""
        value = self.json_(value, path)
        if value is None:
            return {}
        if isinstance(value, dict):
            return value
        self.warn(path, value, "not an object")
        return {}

    def strings_(self, value: Any, path: str) -> list[str]:
        """A list of strings from a list, a lone string, or JSON text of either."""
        if isinstance(value, str) and not value.lstrip().startswith("["):
            return [value] if value else []
        items = self.list_(value, path)
        out: list[str] = []
        for index, item in enumerate(items):
            text = self.str_(item, f"{path}[{index}]")
            if text is not None:
                out.append(text)
        return out


def read_time(value: Any) -> tuple[datetime | None, str | None]:
    """`Lenient.time_` without the warning: the time (None for zero/unset) and what is wrong with the value,
    if anything (then the time is None). `unix_or_iso_time` rejects a value with a problem without building
    the warning a `Lenient` would keep."""
    if value is None or isinstance(value, bool):
        return None, None
    if isinstance(value, int | float):
        return _from_unix(float(value))
    if not isinstance(value, str):
        return None, "not a time"
    text = value.strip()
    if text in _ZERO_TIMES:
        return None, None
    if _NUMBER.fullmatch(text):
        return _from_unix(float(text))
    match = _ISO.match(text)
    if match is None:
        return None, "not an ISO-8601 time"
    frac = (match["frac"] or "")[:6].ljust(6, "0")
    zone = match["zone"] or "Z"
    if zone != "Z" and ":" not in zone:
        zone = zone[:3] + ":" + zone[3:]
    try:
        parsed = datetime.fromisoformat(f"{match['date']}T{match['time']}.{frac}{zone.replace('Z', '+00:00')}")
    except ValueError:
        return None, "not a valid date"
    if parsed.year < 1971:
        return None, None
    return parsed.astimezone(UTC), None


def _from_unix(seconds: float) -> tuple[datetime | None, str | None]:
    if seconds == 0:
        return None, None
    if seconds > 1e12:  # milliseconds
        seconds /= 1000.0
    if not 0 < seconds < 32503680000:  # before year 3000
        return None, "not a plausible unix time"
    return datetime.fromtimestamp(seconds, UTC), None


def loads(text: str) -> Any:
    """`json.loads(text)`, read by pydantic-core's parser when it can: several times faster on the short JSON
    texts providers put inside strings. That parser refuses every text json.loads refuses and reads the others
    to the same values (checked on a few hundred thousand mutated fixture texts; the snapshot test pins the
    results), so on a refusal json.loads runs and raises, or reads a lone surrogate, exactly as before."""
    try:
        return from_json(text)
    except (ValueError, TypeError):  # TypeError: a str with a lone surrogate has no UTF-8 form
        return json.loads(text)


M = TypeVar("M", bound=BaseModel)
_MAX_REPAIRS = 64

#: An event's outputs, collected by a dialect as plain dicts, validated in one call: half the cost of building
#: a model per output and per stream (the SchemaValidator itself: TypeAdapter's wrapper costs more than an
#: empty list does).
validate_outputs: Callable[[list[dict[str, Any]]], list[Output]] = TypeAdapter(list[Output]).validator.validate_python


class SlowPath(Exception):
    """A fast path met something it does not cover: the body is normalized the ordinary way instead."""


class Prevalidated:
    """A part of a document that a dialect's fast path validated straight from the body's bytes, handed to the
    same readers in place of the raw dict they would otherwise get.

    `validate_leniently` hands back its model (it was validated without a single error, so the lenient pass
    would give the same). Of the raw values, only those the fast path kept verbatim can be read, with `get`;
    asking for any other sends the body down the ordinary path, so a reader never sees a value the ordinary
    path would not have given it.
    """

    __slots__ = ("model", "raw")

    def __init__(self, model: BaseModel, raw: dict[str, Any] | None = None) -> None:
        self.model = model
        self.raw = raw or {}

    def get(self, key: str, default: Any = None) -> Any:
        if key in self.raw:
            return self.raw[key]
        raise SlowPath(f"{type(self.model).__name__}.{key} was not kept verbatim")


def validate_leniently(model: type[M], data: Any, lenient: Lenient, path: str = "$") -> M:
    """Validate `data` as `model`, turning each field pydantic rejects into None plus a warning.

    Wire models declare every field optional, so a malformed nested value (a broken time, a code that is not
    a number, a stream list that is a string) degrades that one field; the warning names the full path.
    Coercion itself is pydantic's lax mode: numeric strings become numbers, unix seconds become datetimes.
    """
    if type(data) is Prevalidated:
        if isinstance(data.model, model):
            return data.model
        raise SlowPath(f"{type(data.model).__name__} validated where {model.__name__} is read")
    # The model's own validator, without `model_validate`'s keyword handling; the repair state is only made for
    # a document that needs one (most validate at the first try).
    validate = model.__pydantic_validator__.validate_python
    try:
        return validate(data)  # type: ignore[no-any-return]
    except ValidationError as exc:
        failure = exc
    repair = _Repair(data)
    for attempt in range(_MAX_REPAIRS):
        if attempt:
            try:
                return validate(repair.root)  # type: ignore[no-any-return]
            except ValidationError as exc:
                failure = exc
        for error in reversed(failure.errors(include_url=False)):
            location = list(error["loc"])
            if not location or not repair.null_at(location):
                raise Unidentifiable(
                    f"{error['msg']}",
                    f"{path}.{'.'.join(map(str, location))}" if location else path,
                    error.get("input"),
                ) from failure
            lenient.warn(_join(path, location), error.get("input"), error["msg"].lower())
    raise Unidentifiable("too many malformed fields", path, None)


class _Repair:
    """A document being repaired: values are nulled (list items dropped) along error locations.

    Repairs never touch the caller's document: each container on the way to a repaired value is copied the
    first time, and everything else stays shared (a deep copy of the whole document cost more than the
    validation it repaired).
    """

    def __init__(self, root: Any) -> None:
        self.root = root
        self._owned: set[int] = set()  # ids of the containers copied here

    def null_at(self, location: list[Any]) -> bool:
        """Null the deepest existing value along `location` (drop it from a list); False when nothing can be."""
        keys: list[Any] = []
        parent: Any = None
        node = self.root
        for part in location:
            in_dict = isinstance(node, dict) and part in node
            in_list = isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)
            if not (in_dict or in_list):
                break
            keys.append(part)
            parent, node = node, node[part]
        if parent is None or (node is None and not isinstance(parent, list)):
            return False
        owner = self.root = self._own(self.root)
        for key in keys[:-1]:
            owner[key] = self._own(owner[key])
            owner = owner[key]
        if isinstance(owner, list):  # a bad list item is dropped (errors are repaired last to first)
            owner.pop(keys[-1])
        else:
            owner[keys[-1]] = None
        return True

    def _own(self, node: Any) -> Any:
        if id(node) in self._owned:
            return node
        copied = dict(node) if isinstance(node, dict) else list(node)
        self._owned.add(id(copied))
        return copied


def _join(path: str, location: list[Any]) -> str:
    text = path
    for part in location:
        text += f"[{part}]" if isinstance(part, int) else f".{part}"
    return text


def unix_or_iso_time(value: Any) -> datetime | None:
    """A pydantic BeforeValidator for provider times: zero/unset → None, garbage → ValueError."""
    if type(value) is str and len(value) == 20 and value[10] == "T" and value[19] == "Z" and value[0] != "0":
        # Fast path for the common "YYYY-MM-DDThh:mm:ssZ" (Tencent's form); anything odd takes the slow path.
        try:
            fast = datetime.fromisoformat(value)
        except ValueError:
            pass
        else:
            if fast.year >= 1971:
                return fast
    parsed, problem = read_time(value)
    if problem is not None:
        raise ValueError(time_error(value))
    return parsed


def time_error(value: Any) -> str:
    """What `unix_or_iso_time` says of a value it cannot read (and a reader that does not raise, to match)."""
    return f"not a time: {value!r}"


#: A provider time field: unix seconds or ms, ISO-8601 (also with ":SSS" ms), zero and "0000-…" as None.
ProviderTime = Annotated[datetime | None, BeforeValidator(unix_or_iso_time)]
