"""An MQTT sink's broker address and topic template, parsed and checked without importing the MQTT client.

Kept apart from receiver/sinks/mqtt.py so that the settings can reject a bad `url` or `topic` when they load
(receiver/config.py), while the client library still loads only for a configured MQTT sink.

A topic template names the fields of each message: `vodhook/{provider}/{task_id}` becomes
`vodhook/tencent-vod/1400-abc`. A field fills one topic level, so the characters that would split or widen
the topic (`/` separates levels, `+` and `#` are wildcards a PUBLISH may not carry, NUL is forbidden) become
`_`, as the NATS sink does for its subject tokens.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

#: The placeholders a topic may hold; `task_id` is the task id, or the event id of an event without a task.
PLACEHOLDERS = ("provider", "event_type", "task_id")
SCHEMES = {"mqtt": 1883, "mqtts": 8883}
_FIELD = re.compile(r"\{([^{}]*)\}")
_NOT_IN_LEVEL = re.compile(r"[/+#\x00]")
_MAX_TOPIC_BYTES = 65535


@dataclass(frozen=True)
class BrokerAddress:
    host: str
    port: int
    tls: bool
    username: str | None
    password: str | None
    shown: str  # the URL without its password, for logs and stored errors


def broker_address(url: str) -> BrokerAddress:
    """Parse `mqtt://[user[:password]@]host[:port]` (`mqtts://` for TLS); raise ValueError naming the URL."""
    parts = urlsplit(url)
    shown = _without_password(url, parts.password)
    if parts.scheme not in SCHEMES:
        raise ValueError(f"url {shown!r}: the scheme must be mqtt:// or mqtts://, not {parts.scheme or '(none)'!r}")
    try:
        port = parts.port or SCHEMES[parts.scheme]
    except ValueError as exc:
        raise ValueError(f"url {shown!r}: {exc}") from exc
    if not parts.hostname:
        raise ValueError(f"url {shown!r} names no host")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ValueError(f"url {shown!r}: an MQTT address has no path or query; the topic is its own setting")
    return BrokerAddress(
        host=parts.hostname,
        port=port,
        tls=parts.scheme == "mqtts",
        username=unquote(parts.username) if parts.username is not None else None,
        password=unquote(parts.password) if parts.password is not None else None,
        shown=shown,
    )


def _without_password(url: str, password: str | None) -> str:
    if not password:
        return url
    return url.replace(f":{password}@", ":***@", 1)


def topic_problem(template: str) -> str | None:
    """What makes `template` unusable as a topic to publish to, or None when it is fine."""
    if not template:
        return "is empty"
    names = _FIELD.findall(template)
    unknown = [name for name in names if name not in PLACEHOLDERS]
    if unknown:
        known = ", ".join(f"{{{name}}}" for name in PLACEHOLDERS)
        return f"has an unknown placeholder {{{unknown[0]}}} (known: {known})"
    fixed = _FIELD.sub("", template)
    if "{" in fixed or "}" in fixed:
        return "has a { or } that is not part of a placeholder"
    if "+" in fixed or "#" in fixed:
        return "holds a wildcard (+ or #), which a published topic may not"
    if "\x00" in fixed:
        return "holds a NUL character"
    if template.startswith("$"):
        return "starts with $, which brokers keep for their own topics ($SYS/...)"
    if len(template.encode()) > _MAX_TOPIC_BYTES:
        return f"is longer than MQTT's {_MAX_TOPIC_BYTES} bytes"
    return None


def topic_level(value: str) -> str:
    """A value as exactly one topic level."""
    return _NOT_IN_LEVEL.sub("_", value) or "_"


def expand_topic(template: str, values: Mapping[str, str]) -> str:
    """The topic of one message: each placeholder replaced by its value as one level."""
    return _FIELD.sub(lambda match: topic_level(values[match.group(1)]), template)
