"""The machine's services the tests talk to: check each, start a stopped one, wait until it answers.

`python -m tests.services ensure` runs before the test suite (`make test`). Tests that need a service use
`require_service(name)`: it skips with a message naming the service, or fails when `CI=true`.
"""

from __future__ import annotations

import glob
import os
import shlex
import socket
import subprocess
import sys
import time

import pytest

SERVICES: dict[str, tuple[int, str]] = {
    "postgres": (5432, "pg_ctlcluster --skip-systemctl-redirect {pgversion} main start"),
    "redis": (
        6379,
        'redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no'
        " --dir /var/lib/redis --logfile /var/log/redis/ci.log",
    ),
    "rabbitmq": (5672, "rabbitmq-server -detached"),
    "nats": (
        4222,
        "start-stop-daemon --start --oknodo --background --exec /usr/sbin/nats-server -- -a 127.0.0.1 -p 4222 -js"
        " -sd /var/lib/nats-server -l /var/log/nats-server.log",
    ),
    "mosquitto": (1883, "mosquitto -d -c /etc/mosquitto/mosquitto.conf"),
}


def is_up(name: str) -> bool:
    port = SERVICES[name][0]
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1.0):
            return True
    except OSError:
        return False


def start(name: str) -> bool:
    """Start a stopped service with the machine's own command; True when it answers within a minute."""
    command = SERVICES[name][1]
    if "{pgversion}" in command:
        versions = [os.path.basename(p) for p in glob.glob("/etc/postgresql/*")]
        if not versions:
            return False
        command = command.format(pgversion=versions[0])
    try:
        subprocess.run(shlex.split(command), check=False, timeout=120, capture_output=True)
    except (OSError, subprocess.TimeoutExpired):
        return False
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if is_up(name):
            return True
        time.sleep(0.5)
    return False


def ensure() -> int:
    missing = []
    for name in SERVICES:
        if is_up(name):
            print(f"services: {name} is up")
        elif start(name):
            print(f"services: {name} was down and has been started")
        else:
            print(f"services: {name} is not available")
            missing.append(name)
    if missing and os.environ.get("CI") == "true":
        print(f"services: CI=true and these are missing: {', '.join(missing)}", file=sys.stderr)
        return 1
    return 0


def require_service(name: str) -> None:
    """Skip the calling test when `name` is down, or fail it under CI=true."""
    if is_up(name) or start(name):
        return
    message = f"service {name!r} (127.0.0.1:{SERVICES[name][0]}) is not available"
    if os.environ.get("CI") == "true":
        pytest.fail(message + " and CI=true")
    pytest.skip(message)


if __name__ == "__main__":
    if sys.argv[1:] != ["ensure"]:
        sys.exit("usage: python -m tests.services ensure")
    sys.exit(ensure())
