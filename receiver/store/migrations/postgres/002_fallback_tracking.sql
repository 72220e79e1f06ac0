-- vodhook on PostgreSQL, schema 2: tasks the fallback tracks (receiver/fallback/) and its named cursors.
CREATE TABLE tracked_tasks (
    provider text NOT NULL,
    task_id text NOT NULL,
    source text NOT NULL,
    via text NOT NULL,
    task_kind text,
    state text NOT NULL,
    tracked_at timestamptz NOT NULL,
    created_at timestamptz,
    deadline timestamptz NOT NULL,
    next_check_at timestamptz NOT NULL,
    attempts integer NOT NULL DEFAULT 0,
    last_error text,
    resolved_at timestamptz,
    PRIMARY KEY (provider, task_id)
);
CREATE INDEX tracked_due ON tracked_tasks (state, next_check_at);
CREATE INDEX tracked_by_deadline ON tracked_tasks (state, deadline);

CREATE TABLE cursors (
    name text PRIMARY KEY,
    value text NOT NULL,
    updated_at timestamptz NOT NULL
);
