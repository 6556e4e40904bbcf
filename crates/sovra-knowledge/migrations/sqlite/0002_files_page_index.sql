-- Files are listed by keyset over (created_at, id), a total order
-- (`files::list`); the index serving it replaces the one on created_at only.
DROP INDEX IF EXISTS files_by_owner;
CREATE INDEX IF NOT EXISTS files_by_owner_page ON files (tenant, owner, created_at, id);
