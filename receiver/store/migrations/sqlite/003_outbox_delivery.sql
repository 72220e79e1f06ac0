-- vodhook data dir, schema 3: what the outbox dispatchers (receiver/outbox.py) keep per delivery.
-- redelivery: 1 for a re-send queued by `vodhook outbox redeliver` (new row id = new delivery id, same event id).
-- age_from: where max_age counts from (NULL: created_at); a manual retry restarts it. dead_at: when it gave up.
ALTER TABLE outbox ADD COLUMN redelivery INTEGER NOT NULL DEFAULT 0;
ALTER TABLE outbox ADD COLUMN age_from TEXT;
ALTER TABLE outbox ADD COLUMN dead_at TEXT;
-- A task's earlier pending message holds its later ones back (order per task); dead ones do not.
CREATE INDEX outbox_by_task ON outbox (sink, provider, task_key, state, id);
CREATE INDEX outbox_by_event ON outbox (event_id);
CREATE INDEX outbox_by_state ON outbox (state, sink, id);
