-- Relation types: the aggregate's state, and one row per predicate for look-ups.
CREATE TABLE relation_types (
    id TEXT PRIMARY KEY,
    definition BLOB NOT NULL,
    enabled INTEGER NOT NULL,
    internal INTEGER NOT NULL,
    relation_count INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;

CREATE TABLE predicates (
    id TEXT PRIMARY KEY,
    type_id TEXT NOT NULL,
    label TEXT NOT NULL,
    symmetric_id TEXT NOT NULL
) WITHOUT ROWID;

-- Each relation is two rows: the triple as created (forward) and its mirror.
CREATE TABLE relations (
    subject_id TEXT NOT NULL,
    predicate_id TEXT NOT NULL,
    object_id TEXT NOT NULL,
    relation_id TEXT NOT NULL,
    subject_kind TEXT NOT NULL,
    object_kind TEXT NOT NULL,
    forward INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (subject_id, predicate_id, object_id)
) WITHOUT ROWID;
CREATE INDEX relations_by_predicate ON relations (predicate_id, subject_id, object_id);
CREATE INDEX relations_by_id ON relations (relation_id);

-- Entities of other services, as their events describe them.
CREATE TABLE entities (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    label TEXT NOT NULL,
    tags TEXT NOT NULL,
    in_trash INTEGER NOT NULL,
    state TEXT NOT NULL,
    merged_into TEXT NOT NULL,
    updated_at INTEGER NOT NULL
) WITHOUT ROWID;

-- A person's label is made of two fields that change separately.
CREATE TABLE person_names (
    id TEXT PRIMARY KEY,
    given_name TEXT NOT NULL,
    family_name TEXT NOT NULL
) WITHOUT ROWID;
