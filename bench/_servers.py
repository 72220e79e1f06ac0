"""The two baselines the ingest benchmark compares vodhook against, run as `python -m bench._servers KIND PORT DIR`.

- bare: a Starlette endpoint that reads the body and answers 200 (the ceiling: HTTP + ASGI cost only);
- naive: a receiver that inserts each request into SQLite (WAL, synchronous=FULL) and commits before
  answering, one commit per request, at the same durability as vodhook.
"""

from __future__ import annotations

import sqlite3
import sys
import threading
from pathlib import Path

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route


def bare_app() -> Starlette:
    async def receive(request: Request) -> Response:
        await request.body()
        return JSONResponse({"status": "accepted"})

    return Starlette(routes=[Route("/callbacks/{source}", receive, methods=["POST"])])


def naive_app(data_dir: Path) -> Starlette:
    data_dir.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(data_dir / "naive.sqlite3", check_same_thread=False, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = FULL")
    conn.execute("CREATE TABLE IF NOT EXISTS captures (id INTEGER PRIMARY KEY, source TEXT, body BLOB)")
    lock = threading.Lock()

    def store(source: str, body: bytes) -> int:
        with lock:
            cursor = conn.execute("INSERT INTO captures (source, body) VALUES (?, ?)", (source, body))
            return cursor.lastrowid or 0

    async def receive(request: Request) -> Response:
        from starlette.concurrency import run_in_threadpool

        body = await request.body()
        capture_id = await run_in_threadpool(store, request.path_params["source"], body)
        return JSONResponse({"status": "accepted", "capture_id": capture_id})

    return Starlette(routes=[Route("/callbacks/{source}", receive, methods=["POST"])])


if __name__ == "__main__":
    kind, port, directory = sys.argv[1], int(sys.argv[2]), Path(sys.argv[3])
    app = bare_app() if kind == "bare" else naive_app(directory)
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)
