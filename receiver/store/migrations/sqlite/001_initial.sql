-- vodhook data dir, schema 1: captures, refusals, events, tasks, outbox.
CREATE TABLE captures (
    id INTEGER PRIMARY KEY,
    received_at TEXT NOT NULL,
    source TEXT NOT NULL,
    dialect TEXT NOT NULL,
    origin TEXT NOT NULL,
    remote TEXT,
    method TEXT NOT NULL,
    path TEXT NOT NULL,
    query TEXT NOT NULL,
    headers TEXT NOT NULL,
    body BLOB NOT NULL,
    body_size INTEGER NOT NULL,
    verification TEXT NOT NULL,
    verification_reason TEXT,
    state TEXT NOT NULL,
    error TEXT,
    event_ids TEXT NOT NULL DEFAULT '[]',
    processed_at TEXT
);
CREATE INDEX captures_by_state ON captures (state, id);
CREATE INDEX captures_by_received ON captures (received_at);
CREATE INDEX captures_by_source ON captures (source, id);

CREATE TABLE refusals (
    id INTEGER PRIMARY KEY,
    received_at TEXT NOT NULL,
    source TEXT NOT NULL,
    remote TEXT,
    reason TEXT NOT NULL,
    headers TEXT NOT NULL,
    body_size INTEGER NOT NULL,
    body_head BLOB NOT NULL
);

CREATE TABLE events (
    seq INTEGER PRIMARY KEY,
    event_id TEXT NOT NULL UNIQUE,
    capture_id INTEGER,
    source TEXT NOT NULL,
    provider TEXT NOT NULL,
    dialect TEXT NOT NULL,
    origin TEXT NOT NULL,
    event_type TEXT NOT NULL,
    task_id TEXT,
    task_key TEXT,
    media_id TEXT,
    status TEXT,
    outcome TEXT,
    transition_key TEXT NOT NULL,
    effect TEXT NOT NULL,
    received_at TEXT NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX events_by_task ON events (provider, task_key, seq);
CREATE INDEX events_by_source ON events (source, seq);
CREATE INDEX events_by_received ON events (received_at);

CREATE TABLE tasks (
    provider TEXT NOT NULL,
    task_key TEXT NOT NULL,
    version INTEGER NOT NULL,
    status TEXT NOT NULL,
    outcome TEXT,
    source TEXT NOT NULL,
    changed_at TEXT NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (provider, task_key)
);
CREATE INDEX tasks_by_status ON tasks (status, changed_at);

CREATE TABLE outbox (
    id INTEGER PRIMARY KEY,
    sink TEXT NOT NULL,
    event_id TEXT NOT NULL,
    provider TEXT NOT NULL,
    task_key TEXT,
    version INTEGER,
    message TEXT NOT NULL,
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT NOT NULL,
    last_error TEXT,
    created_at TEXT NOT NULL,
    delivered_at TEXT
);
CREATE INDEX outbox_due ON outbox (sink, state, next_attempt_at, id);
