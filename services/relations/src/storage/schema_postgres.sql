-- Relation types: the aggregate's state, and one row per predicate for look-ups.
CREATE TABLE relation_types (
    id TEXT COLLATE "C" PRIMARY KEY,
    definition BYTEA NOT NULL,
    enabled BOOLEAN NOT NULL,
    internal BOOLEAN NOT NULL,
    relation_count BIGINT NOT NULL DEFAULT 0
);

CREATE TABLE predicates (
    id TEXT COLLATE "C" PRIMARY KEY,
    type_id TEXT COLLATE "C" NOT NULL,
    label TEXT NOT NULL,
    symmetric_id TEXT COLLATE "C" NOT NULL
);

-- Each relation is two rows: the triple as created (forward) and its mirror.
CREATE TABLE relations (
    subject_id TEXT COLLATE "C" NOT NULL,
    predicate_id TEXT COLLATE "C" NOT NULL,
    object_id TEXT COLLATE "C" NOT NULL,
    relation_id TEXT COLLATE "C" NOT NULL,
    subject_kind TEXT NOT NULL,
    object_kind TEXT NOT NULL,
    forward BOOLEAN NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (subject_id, predicate_id, object_id)
);
CREATE INDEX relations_by_predicate ON relations (predicate_id, subject_id, object_id);
CREATE INDEX relations_by_id ON relations (relation_id);

-- Entities of other services, as their events describe them.
CREATE TABLE entities (
    id TEXT COLLATE "C" PRIMARY KEY,
    kind TEXT NOT NULL,
    label TEXT NOT NULL,
    tags TEXT NOT NULL,
    in_trash BOOLEAN NOT NULL,
    state TEXT NOT NULL,
    merged_into TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);

-- A person's label is made of two fields that change separately.
CREATE TABLE person_names (
    id TEXT COLLATE "C" PRIMARY KEY,
    given_name TEXT NOT NULL,
    family_name TEXT NOT NULL
);
