"""`vodhook emulate`: run the provider emulator (registered on the main command by receiver/cli.py)."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import click
import uvicorn

from receiver.emulator.app import create_emulator_app
from receiver.emulator.config import (
    CredentialConfig,
    Dialect,
    DialectConfig,
    EmulatorConfig,
)
from receiver.emulator.faults import FaultSpec
from receiver.emulator.scenario import Scenario, load_scenario
from receiver.emulator.tls import TlsMaterial, make_tls

DIALECTS = [d.value for d in Dialect]


def _pairs(values: tuple[str, ...], flag: str, sep: str = "=") -> list[tuple[str, str]]:
    pairs = []
    for value in values:
        left, found, right = value.partition(sep)
        if not found or not left or not right:
            raise click.BadParameter(f"{value!r} is not NAME{sep}VALUE", param_hint=flag)
        pairs.append((left, right))
    return pairs


def _dialect(name: str, flag: str) -> Dialect:
    try:
        return Dialect(name)
    except ValueError:
        raise click.BadParameter(f"unknown dialect {name!r}; choose from {DIALECTS}", param_hint=flag) from None


def _range(value: str) -> tuple[float, float]:
    low, _, high = value.partition(":")
    try:
        return (float(low), float(high or low))
    except ValueError:
        raise click.BadParameter(f"{value!r} is not LOW:HIGH seconds", param_hint="--delay-range") from None


def build_config(options: dict[str, Any]) -> EmulatorConfig:
    """Turn the command-line options into an `EmulatorConfig` (tested separately from the server)."""
    credentials = [
        CredentialConfig(secret_id=i, secret_key=k)
        for i, k in _pairs(options.get("credential") or (), "--credential", ":")
    ]
    dialects: dict[Dialect, dict[str, Any]] = {}
    for name, url in _pairs(options.get("callback") or (), "--callback"):
        dialects.setdefault(_dialect(name, "--callback"), {})["callback_url"] = url
    for name, key in _pairs(options.get("callback_key") or (), "--callback-key"):
        dialects.setdefault(_dialect(name, "--callback-key"), {})["callback_key"] = key
    for name, mode in _pairs(options.get("notify_mode") or (), "--notify-mode"):
        if mode not in ("Finish", "Change"):
            raise click.BadParameter(f"notify mode {mode!r} is not Finish or Change", param_hint="--notify-mode")
        dialects.setdefault(_dialect(name, "--notify-mode"), {})["notify_mode"] = mode
    for name in options.get("pull") or ():
        dialect = _dialect(name, "--pull")
        if dialect not in (Dialect.TENCENT_VOD_V2, Dialect.TENCENT_VOD_V3):
            raise click.BadParameter(f"{name} has no reliable-callback (pull) mode", param_hint="--pull")
        dialects.setdefault(dialect, {})["mode"] = "pull"
    faults: dict[str, Any] = {
        name: options[name]
        for name in (
            "drop",
            "duplicate",
            "delay",
            "reorder",
            "corrupt_signature",
            "truncate_body",
            "invalid_body",
            "slow_answer",
            "query_5xx",
            "query_rate_limit",
        )
        if options.get(name)
    }
    if options.get("delay_range"):
        faults["delay_s"] = _range(options["delay_range"])
    if options.get("slow_answer_s") is not None:
        faults["slow_answer_s"] = options["slow_answer_s"]
    config: dict[str, Any] = {
        "dialects": {d: DialectConfig(**v) for d, v in dialects.items()},
        "seed": options.get("seed") or 0,
        "time_scale": options["time_scale"] if options.get("time_scale") is not None else 1.0,
        "faults": FaultSpec(**faults),
        "enforce_rate_limits": not options.get("no_rate_limits"),
        "enforce_retention": not options.get("no_retention"),
    }
    if credentials:
        config["credentials"] = credentials
    if options.get("start"):
        config["start"] = options["start"]
    return EmulatorConfig(**config)


def _banner(config: EmulatorConfig, url: str, tls: TlsMaterial | None, scenario: Scenario | None) -> str:
    lines = [f"vodhook emulator on {url}", "credentials (secret id / secret key):"]
    lines += [f"  {c.secret_id} / {c.secret_key}" for c in config.credentials]
    for dialect in Dialect:
        d = config.dialect(dialect)
        where = "pull (PullEvent(s))" if d.mode == "pull" else (d.callback_url or "no callback URL")
        lines.append(f"  {dialect.value}: callbacks -> {where}{' (signed)' if d.callback_key else ''}")
    lines.append(f"clock: x{config.time_scale:g}, seed {config.seed}; control API at {url}/_emulator/")
    if tls is not None:
        lines.append(f"TLS CA: {tls.ca_file} (also GET {url}/_emulator/ca.pem)")
        lines.append(f"  trust it: export SSL_CERT_FILE={tls.ca_file}")
    if scenario is not None:
        lines.append(f"scenario: {len(scenario.tasks)} task entries")
    return "\n".join(lines)


@click.command("emulate")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8787, show_default=True, type=int, help="0 picks a free port.")
@click.option("--tls", "use_tls", is_flag=True, help="Serve HTTPS with a certificate from a local CA.")
@click.option("--tls-dir", type=click.Path(file_okay=False, path_type=Path), help="Where to write CA and cert.")
@click.option(
    "--scenario",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="JSON or TOML file of tasks, timings and faults.",
)
@click.option("--seed", type=int, help="Seed for ids and faults (default 0).")
@click.option("--time-scale", type=float, help="Emulated seconds per real second; 0 freezes the clock.")
@click.option(
    "--start",
    type=click.DateTime(formats=["%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%dT%H:%M:%S%z"]),
    help="Emulator clock at startup (UTC).",
)
@click.option("--credential", multiple=True, metavar="ID:KEY", help="Accepted secret id/key (repeatable).")
@click.option("--callback", multiple=True, metavar="DIALECT=URL", help="Callback URL per dialect.")
@click.option("--callback-key", multiple=True, metavar="DIALECT=KEY", help="Callback signing key per dialect.")
@click.option("--notify-mode", multiple=True, metavar="DIALECT=Finish|Change")
@click.option("--pull", multiple=True, metavar="DIALECT", help="Reliable callbacks (PullEvent/PullEvents).")
@click.option("--drop", type=click.FloatRange(0, 1), help="Probability a callback is never sent.")
@click.option("--duplicate", type=click.FloatRange(0, 1), help="Probability a callback is sent twice.")
@click.option("--delay", type=click.FloatRange(0, 1), help="Probability a callback is delayed.")
@click.option("--delay-range", metavar="LOW:HIGH", help="Delay range in seconds (default 0.5:2).")
@click.option("--reorder", type=click.FloatRange(0, 1), help="Probability a callback is sent after the next one.")
@click.option("--corrupt-signature", type=click.FloatRange(0, 1), help="Probability of a wrong signature.")
@click.option("--truncate-body", type=click.FloatRange(0, 1), help="Probability the body is cut in half.")
@click.option("--invalid-body", type=click.FloatRange(0, 1), help="Probability the body is not JSON.")
@click.option("--slow-answer", type=click.FloatRange(0, 1), help="Probability a query answer is held back.")
@click.option("--slow-answer-s", type=float, help="How long a slow answer is held (default 12 s).")
@click.option("--query-5xx", type=click.FloatRange(0, 1), help="Probability a query gets HTTP 5xx.")
@click.option("--query-rate-limit", type=click.FloatRange(0, 1), help="Probability of a rate-limit error.")
@click.option("--no-rate-limits", is_flag=True, help="Do not enforce the providers' rate limits.")
@click.option("--no-retention", is_flag=True, help="Do not expire old tasks from the query APIs.")
def emulate(**options: Any) -> None:
    """Emulate Tencent VOD (legacy and 3.0), Tencent MPS and Alibaba VOD: query APIs the official SDKs
    accept, simulated tasks, callbacks with injected faults. Default credential: test / test."""
    config = build_config(options)
    scenario = load_scenario(options["scenario"]) if options.get("scenario") else None
    if scenario is not None:
        config = scenario.configure(config)
    tls = None
    if options.get("use_tls"):
        directory = options.get("tls_dir") or Path(tempfile.mkdtemp(prefix="vodhook-emulator-tls-"))
        tls = make_tls(directory, extra_names=(options["host"],))
    app = create_emulator_app(config, tls=tls, scenario=scenario)
    scheme = "https" if tls else "http"
    click.echo(_banner(config, f"{scheme}://{options['host']}:{options['port']}", tls, scenario))
    if config.start is not None:
        click.echo(f"clock starts at {config.start.isoformat()}")
    uvicorn.run(
        app,
        host=options["host"],
        port=options["port"],
        log_level="info",
        ssl_certfile=str(tls.cert_file) if tls else None,
        ssl_keyfile=str(tls.key_file) if tls else None,
    )
