-- The directory: tenants (named by path), users, API keys (only their
-- SHA-256 hash is kept) and web sessions (keyed by the token's hash).
CREATE TABLE tenants (
    path        TEXT PRIMARY KEY NOT NULL,
    name        TEXT NOT NULL,
    kind        TEXT NOT NULL CHECK (kind IN ('nation', 'agency', 'team', 'startup', 'public')),
    created_at  BIGINT NOT NULL
);
INSERT INTO tenants (path, name, kind, created_at) VALUES ('public', 'Public', 'public', 0);

CREATE TABLE users (
    id             TEXT PRIMARY KEY NOT NULL,
    tenant         TEXT NOT NULL REFERENCES tenants (path),
    name           TEXT NOT NULL UNIQUE,
    display_name   TEXT NOT NULL,
    role           TEXT NOT NULL,
    disabled       BIGINT NOT NULL DEFAULT 0,
    password_hash  TEXT,
    oidc_issuer    TEXT,
    oidc_subject   TEXT,
    created_at     BIGINT NOT NULL
);
CREATE INDEX users_tenant ON users (tenant);
CREATE UNIQUE INDEX users_oidc ON users (oidc_issuer, oidc_subject);

CREATE TABLE api_keys (
    id          TEXT PRIMARY KEY NOT NULL,
    tenant      TEXT NOT NULL REFERENCES tenants (path),
    user_id     TEXT REFERENCES users (id) ON DELETE CASCADE,
    name        TEXT NOT NULL,
    shown       TEXT NOT NULL,
    hash        TEXT NOT NULL,
    role        TEXT NOT NULL,
    scopes      TEXT NOT NULL,
    models      TEXT,
    expires_at  BIGINT,
    revoked_at  BIGINT,
    created_at  BIGINT NOT NULL,
    created_by  TEXT NOT NULL
);
CREATE UNIQUE INDEX api_keys_hash ON api_keys (hash);
CREATE INDEX api_keys_tenant ON api_keys (tenant);

CREATE TABLE sessions (
    id          TEXT PRIMARY KEY NOT NULL,
    user_id     TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    csrf        TEXT NOT NULL,
    method      TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL
);
CREATE INDEX sessions_user ON sessions (user_id);
