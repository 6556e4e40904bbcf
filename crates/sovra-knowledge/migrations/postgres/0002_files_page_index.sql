-- Files are listed by keyset over (created_at, id), a total order
-- (`files::page_sql`); the index serving it replaces the one on created_at only.
DROP INDEX IF EXISTS knowledge_files_by_owner;
CREATE INDEX IF NOT EXISTS knowledge_files_by_owner_page ON knowledge_files (tenant, owner, created_at, id);
