-- What happened to each entity's relations, one row per end of each
-- relation event: who added or removed which relation, when, and why.
CREATE TABLE relation_history (
    entity_id TEXT NOT NULL,
    position BIGINT NOT NULL,
    relation_id TEXT NOT NULL,
    change TEXT NOT NULL,
    predicate_id TEXT NOT NULL,
    other_id TEXT NOT NULL,
    other_kind TEXT NOT NULL,
    cause TEXT NOT NULL,
    actor TEXT NOT NULL,
    occurred_at BIGINT NOT NULL,
    PRIMARY KEY (entity_id, position)
);
