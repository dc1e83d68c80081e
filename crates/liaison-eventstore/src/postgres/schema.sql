-- The log: one row per event; position doubles as the outbox order.
-- Positions are assigned under the log's advisory lock, so they commit in
-- order and without gaps, and the relay never skips a late commit.
CREATE TABLE events (
    position BIGINT PRIMARY KEY,
    event_id BYTEA NOT NULL CONSTRAINT events_event_id_key UNIQUE,
    stream_id TEXT NOT NULL,
    stream_version BIGINT NOT NULL,
    event_type TEXT NOT NULL,
    schema_version BIGINT NOT NULL,
    occurred_at BIGINT NOT NULL,
    actor TEXT NOT NULL,
    correlation_id TEXT NOT NULL,
    causation_id TEXT NOT NULL,
    traceparent TEXT NOT NULL,
    -- Set when the payload is sealed with this subject's key.
    subject_id TEXT,
    payload BYTEA NOT NULL,
    CONSTRAINT events_stream_version_key UNIQUE (stream_id, stream_version)
);

-- Per-subject keys for crypto-shredding; deleting a row erases the subject.
CREATE TABLE subject_keys (
    subject_id TEXT CONSTRAINT subject_keys_pkey PRIMARY KEY,
    key BYTEA NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE forgotten_subjects (
    subject_id TEXT PRIMARY KEY,
    forgotten_at BIGINT NOT NULL
);

CREATE TABLE relay_checkpoint (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    position BIGINT NOT NULL
);

-- Position of the last event applied per consumer and producing service.
CREATE TABLE consumer_checkpoints (
    consumer TEXT NOT NULL,
    source_service TEXT NOT NULL,
    position BIGINT NOT NULL,
    PRIMARY KEY (consumer, source_service)
);
