-- Priority classes (issue 22): the class an administrator grants a tenant,
-- a user or an API key; NULL inherits (a key its user's, else its tenant's;
-- a tenant its nearest ancestor's; at the end of the path, `citizen`).
ALTER TABLE tenants ADD COLUMN priority TEXT CHECK (priority IN ('emergency', 'citizen', 'batch'));
ALTER TABLE users ADD COLUMN priority TEXT CHECK (priority IN ('emergency', 'citizen', 'batch'));
ALTER TABLE api_keys ADD COLUMN priority TEXT CHECK (priority IN ('emergency', 'citizen', 'batch'));
