-- How many contacts of each kind are in each status, kept by triggers so that
-- an unfiltered list's total costs a few rows instead of a scan of every
-- contact. Spread over shards (the id's last two characters, random in a
-- UUIDv7) so concurrent writers rarely update the same row. A count that
-- falls to zero is removed: the table depends only on the contacts, not on
-- the path that led there, so a rebuild gives the same rows.

CREATE TABLE contact_counts (
    kind TEXT NOT NULL,
    status TEXT NOT NULL,
    shard TEXT NOT NULL,
    n INTEGER NOT NULL,
    PRIMARY KEY (kind, status, shard)
) WITHOUT ROWID;

INSERT INTO contact_counts (kind, status, shard, n)
    SELECT kind, status, substr(id, -2), COUNT(*) FROM contacts GROUP BY 1, 2, 3;

CREATE TRIGGER contacts_count_insert AFTER INSERT ON contacts BEGIN
    INSERT INTO contact_counts (kind, status, shard, n)
        VALUES (NEW.kind, NEW.status, substr(NEW.id, -2), 1)
        ON CONFLICT (kind, status, shard) DO UPDATE SET n = n + 1;
END;

CREATE TRIGGER contacts_count_delete AFTER DELETE ON contacts BEGIN
    UPDATE contact_counts SET n = n - 1
        WHERE kind = OLD.kind AND status = OLD.status AND shard = substr(OLD.id, -2);
    DELETE FROM contact_counts
        WHERE kind = OLD.kind AND status = OLD.status AND shard = substr(OLD.id, -2) AND n = 0;
END;

CREATE TRIGGER contacts_count_update AFTER UPDATE OF kind, status ON contacts
    WHEN OLD.kind != NEW.kind OR OLD.status != NEW.status BEGIN
    UPDATE contact_counts SET n = n - 1
        WHERE kind = OLD.kind AND status = OLD.status AND shard = substr(OLD.id, -2);
    DELETE FROM contact_counts
        WHERE kind = OLD.kind AND status = OLD.status AND shard = substr(OLD.id, -2) AND n = 0;
    INSERT INTO contact_counts (kind, status, shard, n)
        VALUES (NEW.kind, NEW.status, substr(NEW.id, -2), 1)
        ON CONFLICT (kind, status, shard) DO UPDATE SET n = n + 1;
END;
