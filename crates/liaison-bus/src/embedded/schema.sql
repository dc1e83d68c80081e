CREATE TABLE messages (
    seq INTEGER PRIMARY KEY,
    msg_id TEXT NOT NULL UNIQUE,
    subject TEXT NOT NULL,
    data BLOB NOT NULL,
    stored_at INTEGER NOT NULL
);

CREATE TABLE consumers (
    name TEXT PRIMARY KEY,
    filter_subjects TEXT NOT NULL,
    -- Every message with seq <= ack_floor is settled for this consumer.
    ack_floor INTEGER NOT NULL
);

CREATE TABLE dead_letters (
    id INTEGER PRIMARY KEY,
    consumer TEXT NOT NULL,
    seq INTEGER NOT NULL,
    subject TEXT NOT NULL,
    data BLOB NOT NULL,
    reason TEXT NOT NULL,
    delivered INTEGER NOT NULL,
    dead_at INTEGER NOT NULL
);
CREATE INDEX dead_letters_by_consumer ON dead_letters (consumer, id);
