-- How many contacts of each kind are in each status: the same table and
-- triggers as counts_sqlite.sql.

CREATE TABLE contact_counts (
    kind TEXT NOT NULL,
    status TEXT NOT NULL,
    shard TEXT NOT NULL,
    n BIGINT NOT NULL,
    PRIMARY KEY (kind, status, shard)
);

INSERT INTO contact_counts (kind, status, shard, n)
    SELECT kind, status, right(id, 2), COUNT(*) FROM contacts GROUP BY 1, 2, 3;

CREATE FUNCTION contacts_count() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        UPDATE contact_counts SET n = n - 1
            WHERE kind = OLD.kind AND status = OLD.status AND shard = right(OLD.id, 2);
        DELETE FROM contact_counts
            WHERE kind = OLD.kind AND status = OLD.status AND shard = right(OLD.id, 2) AND n = 0;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        INSERT INTO contact_counts (kind, status, shard, n)
            VALUES (NEW.kind, NEW.status, right(NEW.id, 2), 1)
            ON CONFLICT (kind, status, shard) DO UPDATE SET n = contact_counts.n + 1;
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER contacts_count_insert_delete AFTER INSERT OR DELETE ON contacts
    FOR EACH ROW EXECUTE FUNCTION contacts_count();
CREATE TRIGGER contacts_count_update AFTER UPDATE OF kind, status ON contacts
    FOR EACH ROW WHEN (OLD.kind IS DISTINCT FROM NEW.kind OR OLD.status IS DISTINCT FROM NEW.status)
    EXECUTE FUNCTION contacts_count();
