-- Key lineage (issue 21, finding 9): the key a key was minted with. Revoking
-- a key revokes every key minted from it, down the lineage. Keys minted
-- before this migration name their parent in `created_by` (`key:<id>`), and
-- those whose ancestor is already revoked are revoked here, with it.
ALTER TABLE api_keys ADD COLUMN parent_id TEXT;
UPDATE api_keys SET parent_id = substr(created_by, 5) WHERE created_by LIKE 'key:%';
CREATE INDEX api_keys_parent ON api_keys (parent_id);
WITH RECURSIVE gone (id, at) AS (
    SELECT id, revoked_at FROM api_keys WHERE revoked_at IS NOT NULL
    UNION SELECT k.id, g.at FROM api_keys k JOIN gone g ON k.parent_id = g.id
)
UPDATE api_keys SET revoked_at = (SELECT MIN(g.at) FROM gone g WHERE g.id = api_keys.id)
WHERE revoked_at IS NULL AND id IN (SELECT id FROM gone);
