-- Read models of the contacts service on PostgreSQL, all maintained by
-- ContactsProjection. The same tables and indexes as schema_sqlite.sql.

CREATE TABLE contacts (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,              -- 'person' | 'organisation'
    version BIGINT NOT NULL,
    status TEXT NOT NULL,            -- 'live' | 'trash' | 'merged' | 'erased'
    sort_name TEXT NOT NULL COLLATE "C",  -- lowercase, for sorting
    search_text TEXT NOT NULL,       -- lowercase names and emails
    category_id TEXT,
    managed BOOLEAN NOT NULL DEFAULT FALSE,
    merged_into TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    data BYTEA NOT NULL              -- ContactData, protobuf
);
CREATE INDEX contacts_by_name ON contacts (kind, status, sort_name, id);
CREATE INDEX contacts_by_created ON contacts (kind, status, created_at, id);
CREATE INDEX contacts_by_updated ON contacts (kind, status, updated_at, id);
CREATE INDEX contacts_by_category ON contacts (category_id, kind, status, sort_name, id) WHERE category_id IS NOT NULL;

CREATE TABLE contact_emails (
    email TEXT NOT NULL,             -- lowercase
    contact_id TEXT NOT NULL,
    PRIMARY KEY (email, contact_id)
);
CREATE INDEX contact_emails_by_contact ON contact_emails (contact_id);

CREATE TABLE contact_tags (
    tag TEXT NOT NULL,               -- lowercase
    contact_id TEXT NOT NULL,
    PRIMARY KEY (tag, contact_id)
);
CREATE INDEX contact_tags_by_contact ON contact_tags (contact_id);

CREATE TABLE contact_external_refs (
    source TEXT NOT NULL,
    external_id TEXT NOT NULL,
    contact_id TEXT NOT NULL,
    PRIMARY KEY (source, external_id)
);
CREATE INDEX contact_external_refs_by_contact ON contact_external_refs (contact_id);

CREATE TABLE categories (
    id TEXT PRIMARY KEY,
    version BIGINT NOT NULL,
    name TEXT NOT NULL,
    name_key TEXT NOT NULL UNIQUE,   -- lowercase name
    description TEXT NOT NULL
);
