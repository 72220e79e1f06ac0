-- vodhook data dir, schema 2: leases (one holder at a time, e.g. the fallback scheduler) and shared
-- rate-limit buckets (a provider's query quota, shared by everything that queries it).
CREATE TABLE leases (
    name TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    expires_at TEXT NOT NULL
);

-- tat: the bucket's "theoretical arrival time" in unix seconds (GCRA): when it will be full again.
CREATE TABLE rate_buckets (
    name TEXT PRIMARY KEY,
    tat REAL NOT NULL
);
