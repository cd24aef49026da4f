-- The execution service's schema (SQLite). Times are milliseconds since the Unix epoch.

-- One row: the hash of the administrator's key.
CREATE TABLE admin (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    key_hash TEXT NOT NULL
);

CREATE TABLE tenants (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE,
    -- SHA-256 (hex) of the API key; the key itself is shown once and never stored.
    key_hash TEXT NOT NULL UNIQUE,
    -- The key of the HMAC-SHA256 signature of callbacks.
    webhook_secret TEXT NOT NULL,
    max_concurrent INTEGER,
    rate_per_min INTEGER,
    max_queue INTEGER,
    max_memory_bytes INTEGER,
    max_fuel INTEGER,
    max_timeout_ms INTEGER,
    created_at INTEGER NOT NULL
);

-- Module bytes, stored once per content (SHA-256 of the uploaded bytes).
CREATE TABLE modules (
    sha256 TEXT PRIMARY KEY,
    bytes BLOB NOT NULL,
    size INTEGER NOT NULL,
    created_at INTEGER NOT NULL
);

-- Which tenant may use which module.
CREATE TABLE tenant_modules (
    tenant_id INTEGER NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    sha256 TEXT NOT NULL REFERENCES modules(sha256),
    created_at INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, sha256)
);

CREATE TABLE problems (
    id TEXT PRIMARY KEY,
    tenant_id INTEGER NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    spec TEXT NOT NULL,
    created_at INTEGER NOT NULL
);

-- Runs and submissions. `attempts` counts claims: a completion names the attempt it belongs
-- to, so a worker whose claim was taken over cannot overwrite the result.
CREATE TABLE jobs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    tenant_id INTEGER NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    kind TEXT NOT NULL CHECK (kind IN ('run', 'submission')),
    state TEXT NOT NULL CHECK (state IN ('queued', 'running', 'done')),
    spec TEXT NOT NULL,
    result TEXT,
    outcome TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    owner TEXT,
    lease_until INTEGER,
    callback_url TEXT,
    created_at INTEGER NOT NULL,
    started_at INTEGER,
    finished_at INTEGER
);
CREATE INDEX jobs_by_state ON jobs (state, seq);
CREATE INDEX jobs_by_tenant ON jobs (tenant_id, state);

-- Callbacks to deliver (written with the result, in the same transaction).
CREATE TABLE callbacks (
    job_id TEXT PRIMARY KEY REFERENCES jobs(id) ON DELETE CASCADE,
    tenant_id INTEGER NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    url TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_at INTEGER NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('pending', 'delivered', 'failed')),
    last_error TEXT
);
CREATE INDEX callbacks_pending ON callbacks (state, next_at);
