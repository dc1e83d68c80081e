-- Read models of the contacts service, all maintained by ContactsProjection.

CREATE TABLE contacts (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,              -- 'person' | 'organisation'
    version INTEGER NOT NULL,
    status TEXT NOT NULL,            -- 'live' | 'trash' | 'merged' | 'erased'
    sort_name TEXT NOT NULL,         -- lowercase, for sorting
    search_text TEXT NOT NULL,       -- lowercase names and emails
    category_id TEXT,
    managed INTEGER NOT NULL DEFAULT 0,
    merged_into TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    data BLOB NOT NULL               -- ContactData, protobuf
);
CREATE INDEX contacts_by_name ON contacts (kind, status, sort_name, id);
CREATE INDEX contacts_by_created ON contacts (kind, status, created_at, id);
CREATE INDEX contacts_by_updated ON contacts (kind, status, updated_at, id);
-- Covers the filters of a category listing and its count.
CREATE INDEX contacts_by_category ON contacts (category_id, kind, status, sort_name, id) WHERE category_id IS NOT NULL;

CREATE TABLE contact_emails (
    email TEXT NOT NULL,             -- lowercase
    contact_id TEXT NOT NULL,
    PRIMARY KEY (email, contact_id)
) WITHOUT ROWID;
CREATE INDEX contact_emails_by_contact ON contact_emails (contact_id);

CREATE TABLE contact_tags (
    tag TEXT NOT NULL,               -- lowercase
    contact_id TEXT NOT NULL,
    PRIMARY KEY (tag, contact_id)
) WITHOUT ROWID;
CREATE INDEX contact_tags_by_contact ON contact_tags (contact_id);

CREATE TABLE contact_external_refs (
    source TEXT NOT NULL,
    external_id TEXT NOT NULL,
    contact_id TEXT NOT NULL,
    PRIMARY KEY (source, external_id)
) WITHOUT ROWID;
CREATE INDEX contact_external_refs_by_contact ON contact_external_refs (contact_id);

CREATE TABLE categories (
    id TEXT PRIMARY KEY,
    version INTEGER NOT NULL,
    name TEXT NOT NULL,
    name_key TEXT NOT NULL UNIQUE,   -- lowercase name
    description TEXT NOT NULL
);
