-- vodhook data dir, schema 4: tasks the fallback tracks (receiver/fallback/) and its named cursors.
CREATE TABLE tracked_tasks (
    provider TEXT NOT NULL,
    task_id TEXT NOT NULL,
    source TEXT NOT NULL,
    via TEXT NOT NULL,
    task_kind TEXT,
    state TEXT NOT NULL,
    tracked_at TEXT NOT NULL,
    created_at TEXT,
    deadline TEXT NOT NULL,
    next_check_at TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    resolved_at TEXT,
    PRIMARY KEY (provider, task_id)
);
CREATE INDEX tracked_due ON tracked_tasks (state, next_check_at);
CREATE INDEX tracked_by_deadline ON tracked_tasks (state, deadline);

CREATE TABLE cursors (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
