-- The permissions granted beyond the role, comma-separated names.
ALTER TABLE users ADD COLUMN permissions TEXT NOT NULL DEFAULT '';
