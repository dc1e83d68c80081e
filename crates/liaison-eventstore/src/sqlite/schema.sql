-- The log: one row per event; position doubles as the outbox order.
CREATE TABLE events (
    position INTEGER PRIMARY KEY,
    event_id BLOB NOT NULL UNIQUE,
    stream_id TEXT NOT NULL,
    stream_version INTEGER NOT NULL,
    event_type TEXT NOT NULL,
    schema_version INTEGER NOT NULL,
    occurred_at INTEGER NOT NULL,
    actor TEXT NOT NULL,
    correlation_id TEXT NOT NULL,
    causation_id TEXT NOT NULL,
    traceparent TEXT NOT NULL,
    -- Set when the payload is sealed with this subject's key.
    subject_id TEXT,
    payload BLOB NOT NULL,
    UNIQUE (stream_id, stream_version)
);

-- Per-subject keys for crypto-shredding; deleting a row erases the subject.
CREATE TABLE subject_keys (
    subject_id TEXT PRIMARY KEY,
    key BLOB NOT NULL,
    created_at INTEGER NOT NULL
);

CREATE TABLE relay_checkpoint (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    position INTEGER NOT NULL
);

-- Position of the last event applied per consumer and producing service.
CREATE TABLE consumer_checkpoints (
    consumer TEXT NOT NULL,
    source_service TEXT NOT NULL,
    position INTEGER NOT NULL,
    PRIMARY KEY (consumer, source_service)
);
