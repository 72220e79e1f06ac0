"""Settings: read from a TOML file and `VODHOOK_*` environment variables, validated by pydantic.

Precedence, highest first: explicit overrides (CLI flags), environment (`VODHOOK_PORT`, nested keys with
`__`: `VODHOOK_SOURCES__MYVOD__DIALECT`), the TOML file, defaults. With no `[sources]` the receiver has one
source per dialect, named after it, plus `auto`.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from receiver import dialects
from receiver.dialects.base import SigningPolicy
from receiver.model import Outcome, Status
from receiver.sinks.mqtt_names import broker_address, topic_problem

DEFAULT_MAX_BODY = 10 * 1024 * 1024


class ConfigError(ValueError):
    """A setting is missing or wrong; the message names the key and the bad value."""


class SourceSettings(BaseModel):
    """One callback endpoint: `POST /callbacks/<name>` speaks `dialect` and checks `keys`."""

    model_config = ConfigDict(extra="forbid")

    dialect: str
    keys: list[str] = Field(default_factory=list, description="Signature keys; several for rotation.")
    public_url: str | None = Field(None, description="The URL the provider calls (Alibaba signs it).")
    tolerance_s: float = Field(300.0, ge=0, description="Allowed clock skew for signed timestamps.")
    confirm: bool = Field(
        False,
        description="Hold each terminal callback until a query of the provider confirms it (needs the source's"
        " [fallback.sources.<name>] credentials): for those who cannot trust an unsigned body.",
    )
    confirm_grace_s: float = Field(
        120.0,
        ge=0,
        allow_inf_nan=False,
        description="With confirm: how long after a held callback arrived the provider may still say its task is"
        " not finished (or not found) before the callback is refused: providers update their task API about when,"
        " or a little after, they call back. An answer that says finished otherwise refuses it at once.",
    )

    @field_validator("dialect")
    @classmethod
    def _known_dialect(cls, value: str) -> str:
        if value != dialects.AUTO and value not in dialects.registry():
            known = ", ".join([*dialects.registry(), dialects.AUTO])
            raise ValueError(f"unknown dialect {value!r}; known dialects: {known}")
        return value

    def signing_policy(self) -> SigningPolicy:
        return SigningPolicy(keys=tuple(self.keys), public_url=self.public_url, tolerance_s=self.tolerance_s)


class RefusalSettings(BaseModel):
    """Caps on what refused requests (bad signature, oversized) may keep, so junk cannot fill the disk."""

    model_config = ConfigDict(extra="forbid")

    max_count: int = Field(10_000, ge=1)
    max_bytes: int = Field(256 * 1024 * 1024, ge=1)
    head_bytes: int = Field(64 * 1024, ge=0, description="How much of an oversized body to keep.")


SinkType = Literal["jsonl", "http", "redis", "nats", "rabbitmq", "mqtt"]
_SINK_NEEDS: dict[str, tuple[str, ...]] = {
    "http": ("url",),
    "redis": ("url",),
    "nats": ("url",),
    "rabbitmq": ("url",),
    "mqtt": ("url", "topic"),
}


class SinkSettings(BaseModel):
    """One forwarding destination (receiver/outbox.py, receiver/sinks/): where to, what, and how hard to try.

    Filters are lists; an empty list matches anything. Only events that changed their task are forwarded
    unless `every_event` is set (then duplicates, stale and informational events go too).
    """

    model_config = ConfigDict(extra="forbid")

    type: SinkType = "jsonl"
    url: str | None = Field(
        None, description="http(s)://, redis://, nats://, amqp://, mqtt(s)://[user:password@]host[:port] address."
    )
    stream: str | None = Field(None, description="Redis stream key, or NATS JetStream stream name.")
    subject: str | None = Field(None, description="NATS subject prefix: messages go to <subject>.<task id>.")
    exchange: str | None = Field(None, description="RabbitMQ topic exchange; the routing key is the task id.")
    queue: str | None = Field(None, description="RabbitMQ: a durable queue to declare and bind (optional).")
    topic: str | None = Field(
        None, description="MQTT topic; may hold {provider}, {event_type}, {task_id}: vodhook/{provider}/{task_id}."
    )
    retain: bool = Field(False, description="MQTT: retained messages (a new subscriber gets each topic's last).")
    mqtt_version: Literal["5", "3.1.1"] = Field(
        "5", description='MQTT protocol; "3.1.1" for a broker without 5 (then no headers, refusals go unseen).'
    )
    client_id: str | None = Field(
        None, description="MQTT client id; default vodhook-<sink>-<random>. A fixed one must differ per replica."
    )
    path: Path | None = Field(None, description="JSON Lines file; default <data_dir>/sinks/<name>.jsonl.")
    keys: list[str] = Field(
        default_factory=list, description="HTTP signing keys: whsec_… (HMAC) and/or whsk_… (Ed25519)."
    )
    timeout_s: float = Field(15.0, gt=0)
    maxlen: int | None = Field(100_000, ge=1, description="Redis: XADD MAXLEN (approximate); none keeps all.")
    max_bytes: int = Field(64 * 1024 * 1024, ge=1024, description="JSON Lines: rotate past this size.")
    keep_files: int = Field(10, ge=1, description="JSON Lines: rotated files to keep.")
    sources: list[str] = Field(default_factory=list)
    dialects: list[str] = Field(default_factory=list)
    event_types: list[str] = Field(default_factory=list)
    statuses: list[Status] = Field(default_factory=list)
    outcomes: list[Outcome] = Field(default_factory=list)
    every_event: bool = False
    max_attempts: int = Field(25, ge=1)
    max_age_s: float = Field(3 * 86400.0, gt=0, description="Dead-letter a message still undelivered this long.")
    backoff_base_s: float = Field(1.0, gt=0)
    backoff_max_s: float = Field(3600.0, gt=0)
    batch_size: int = Field(256, ge=1)
    concurrency: int = Field(16, ge=1, description="HTTP: requests in flight at once.")
    poll_s: float = Field(1.0, gt=0, description="How often to look for due retries when nothing new arrives.")
    keep_delivered_s: float = Field(86400.0, ge=0, description="How long delivered messages stay listable.")

    @model_validator(mode="after")
    def _complete(self) -> SinkSettings:
        missing = [name for name in _SINK_NEEDS.get(self.type, ()) if not getattr(self, name)]
        if missing:
            raise ValueError(f"a {self.type} sink needs {', '.join(missing)}")
        if self.type == "rabbitmq" and not self.exchange:
            raise ValueError("a rabbitmq sink needs exchange")
        if self.type == "nats" and not (self.subject and self.stream):
            raise ValueError("a nats sink needs stream and subject")
        if self.type == "redis" and not self.stream:
            raise ValueError("a redis sink needs stream")
        if self.type == "mqtt" and self.url and self.topic:
            broker_address(self.url)  # a ValueError naming the URL (its password hidden)
            problem = topic_problem(self.topic)
            if problem:
                raise ValueError(f"the mqtt topic {self.topic!r} {problem}")
        return self


class FallbackSourceSettings(BaseModel):
    """How the fallback queries one source's provider account (receiver/fallback/)."""

    model_config = ConfigDict(extra="forbid")

    secret_id: str = Field(min_length=1, description="Tencent SecretId / Alibaba AccessKey id.")
    secret_key: str = Field(min_length=1, description="Tencent SecretKey / Alibaba AccessKey secret.")
    endpoint: str | None = Field(None, description="API endpoint override (e.g. the emulator's URL).")
    region: str | None = None
    deadline_s: float | None = Field(None, gt=0, description="This source's deadline; default fallback.deadline_s.")
    deadlines: dict[str, float] = Field(default_factory=dict, description="Per task kind (transcode, ...), s.")
    rate_per_s: float | None = Field(
        None, gt=0, description="Query budget; default 90 % of the provider's published one."
    )
    burst: float | None = Field(None, ge=1, description="Token-bucket size; default 1.")
    sweep: bool = Field(True, description="List the provider's tasks to find those we never heard of.")
    pull: bool = Field(False, description="Reliable-callback mode: pull events (PullEvent(s)) and confirm them.")


class FallbackSettings(BaseModel):
    """The fallback: query the provider for tasks whose callbacks are overdue, and sweep its task listing."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = False
    sources: dict[str, FallbackSourceSettings] = Field(default_factory=dict, description="Keyed by source name.")
    deadline_s: float = Field(900.0, gt=0, description="A task with no terminal event this long is overdue.")
    deadlines: dict[str, float] = Field(default_factory=dict, description="Per task kind, for every source.")
    tick_s: float = Field(1.0, gt=0, description="How often the scheduler looks for due tasks.")
    backoff_base_s: float = Field(
        30.0,
        gt=0,
        description="Shortest wait before asking again: a task still running waits its age (within"
        " backoff_base_s..backoff_max_s), an error waits this, doubling per attempt.",
    )
    backoff_max_s: float = Field(1800.0, gt=0, description="Longest wait between two queries of a task.")
    sweep_interval_s: float = Field(300.0, gt=0)
    sweep_lookback_s: float = Field(6 * 3600.0, gt=0, description="How far back the first sweep looks.")
    batch: int = Field(200, ge=1, description="Due tasks taken per scheduler pass (oldest deadline first).")


class Settings(BaseSettings):
    """Everything `vodhook serve` needs."""

    model_config = SettingsConfigDict(env_prefix="VODHOOK_", env_nested_delimiter="__", extra="forbid")

    data_dir: Path = Path("./vodhook-data")
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=0, le=65535)
    store: str = Field("sqlite", description='"sqlite" (in data_dir) or a postgresql:// URL.')
    max_body_bytes: int = Field(DEFAULT_MAX_BODY, ge=1)
    admin_token: str | None = None
    clock_offset_s: float = Field(0.0, description="Shift the receiver's clock (testing and drills).")
    log_level: str = "info"
    process: bool = Field(
        True, description="False: capture-only mode (maintenance); captures stay pending until a normal start."
    )
    processing: Literal["worker", "inline"] | None = Field(
        None,
        description='"worker": normalization and task state run in a child process, leaving this one to HTTP and'
        ' captures (the default with SQLite); "inline": in this process (the default with PostgreSQL, where'
        " replicas spread the work).",
    )
    sources: dict[str, SourceSettings] = Field(default_factory=dict)
    refusals: RefusalSettings = Field(default_factory=RefusalSettings)
    sinks: dict[str, SinkSettings] = Field(default_factory=dict, description="Where events are forwarded.")
    fallback: FallbackSettings = Field(default_factory=FallbackSettings, description="Overdue-task recovery.")

    @field_validator("sources")
    @classmethod
    def _default_sources(cls, value: dict[str, SourceSettings]) -> dict[str, SourceSettings]:
        if value:
            return value
        defaults = {name: SourceSettings(dialect=name) for name in dialects.registry()}
        defaults[dialects.AUTO] = SourceSettings(dialect=dialects.AUTO)
        return defaults

    @model_validator(mode="after")
    def _confirmable(self) -> Settings:
        """`confirm` works through the fallback's queries: the source needs its credentials, and the fallback on.

        Why a source setting that leans on the fallback: none of the four providers signs a callback's body
        (a signature proves who sent it and when, not what it says), so the only way to believe a terminal
        callback without trusting its body is to ask the provider, with the query client, token bucket and
        scheduler lease the fallback already has: a held callback's task is simply a tracked task due now.
        """
        for name, source in self.sources.items():
            if not source.confirm:
                continue
            if name not in self.fallback.sources:
                problem = (
                    f"confirming callbacks queries the provider, so source {name!r} needs its credentials under"
                    f" [fallback.sources.{name}] (secret_id, secret_key)"
                )
            elif not self.fallback.enabled:
                problem = "confirming callbacks needs the fallback's queries: set fallback.enabled = true"
            elif source.dialect == dialects.AUTO:
                problem = f"a source that confirms must name its dialect (the provider to ask), not {dialects.AUTO!r}"
            else:
                continue
            raise _setting_error(("sources", name, "confirm"), problem, source.confirm)
        return self

    @property
    def processing_mode(self) -> Literal["worker", "inline"]:
        if self.processing is not None:
            return self.processing
        return "worker" if self.store == "sqlite" else "inline"

    @property
    def sqlite_path(self) -> Path:
        return self.data_dir / "vodhook.sqlite3"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return init_settings, env_settings


def _setting_error(loc: tuple[str, ...], problem: str, value: Any) -> ValidationError:
    """A validation error located at `loc`, so `describe_validation_error` names that key (a model validator's
    own errors would sit at the top level)."""
    detail = InitErrorDetails(type=PydanticCustomError("value_error", problem), loc=loc, input=value)
    return ValidationError.from_exception_data("Settings", [detail])


def load_settings(config_file: Path | None = None, **overrides: Any) -> Settings:
    """Build settings from a TOML file, the environment and overrides; raise `ConfigError` naming the key."""
    from_file: dict[str, Any] = {}
    if config_file is not None:
        try:
            from_file = tomllib.loads(config_file.read_text(encoding="utf-8"))
        except OSError as exc:
            raise ConfigError(f"cannot read config file {str(config_file)!r}: {exc.strerror}") from exc
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config file {str(config_file)!r} is not valid TOML: {exc}") from exc
    given = {key: value for key, value in overrides.items() if value is not None}
    try:
        return _FileSettings.with_file(from_file)(**given)
    except ValidationError as exc:
        raise ConfigError(describe_validation_error(exc, origin=str(config_file or "environment"))) from exc


class _FileSettings:
    """Layers the TOML file under the environment: pydantic-settings gives init kwargs the top rank."""

    @staticmethod
    def with_file(from_file: dict[str, Any]) -> type[Settings]:
        class FileLayered(Settings):
            @classmethod
            def settings_customise_sources(
                cls,
                settings_cls: type[BaseSettings],
                init_settings: PydanticBaseSettingsSource,
                env_settings: PydanticBaseSettingsSource,
                dotenv_settings: PydanticBaseSettingsSource,
                file_secret_settings: PydanticBaseSettingsSource,
            ) -> tuple[PydanticBaseSettingsSource, ...]:
                return init_settings, env_settings, _DictSource(settings_cls, from_file)

        return FileLayered


class _DictSource(PydanticBaseSettingsSource):
    def __init__(self, settings_cls: type[BaseSettings], data: dict[str, Any]) -> None:
        super().__init__(settings_cls)
        self._data = data

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return self._data.get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return dict(self._data)


def describe_validation_error(exc: ValidationError, origin: str) -> str:
    """One line per problem: `key.path: what is wrong (got value)`."""
    lines = [f"invalid configuration ({origin}):"]
    for error in exc.errors():
        key = ".".join(str(part) for part in error["loc"]) or "(top level)"
        value = error.get("input")
        shown = repr(value)
        if len(shown) > 80:
            shown = shown[:80] + "…"
        lines.append(f"  {key}: {error['msg']} (got {shown})")
    return "\n".join(lines)
