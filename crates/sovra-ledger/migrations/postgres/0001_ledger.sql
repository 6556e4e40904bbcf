-- The start-up fund's ledger: accounts with cached balances, immutable
-- transfers, and the fund's records.

CREATE TABLE ledger_accounts (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    owner TEXT NOT NULL,
    may_go_negative BOOLEAN NOT NULL,
    balance BIGINT NOT NULL DEFAULT 0,
    held BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    -- The database itself refuses a negative balance (posted or available).
    CHECK (held >= 0),
    CHECK (may_go_negative OR (balance >= 0 AND balance - held >= 0))
);

CREATE TABLE ledger_transfers (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    debit_account TEXT NOT NULL REFERENCES ledger_accounts (id),
    credit_account TEXT NOT NULL REFERENCES ledger_accounts (id),
    amount BIGINT NOT NULL CHECK (amount >= 0),
    pending_id TEXT REFERENCES ledger_transfers (id),
    expires_at BIGINT,
    reason TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

-- A reservation is settled (post, void or expire) at most once.
CREATE UNIQUE INDEX ledger_transfers_settles ON ledger_transfers (pending_id);
CREATE INDEX ledger_transfers_debit ON ledger_transfers (debit_account);
CREATE INDEX ledger_transfers_credit ON ledger_transfers (credit_account);
CREATE INDEX ledger_transfers_expiry ON ledger_transfers (expires_at) WHERE kind = 'pending';

CREATE TABLE fund_funders (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL
);

CREATE TABLE fund_programmes (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    eligibility TEXT NOT NULL,
    starts_at BIGINT NOT NULL,
    ends_at BIGINT NOT NULL,
    embeddings_per_1k BIGINT NOT NULL,
    retrieval_per_query BIGINT NOT NULL
);

CREATE TABLE fund_prices (
    programme_id TEXT NOT NULL REFERENCES fund_programmes (id),
    model TEXT NOT NULL,
    prompt_per_1k BIGINT NOT NULL,
    completion_per_1k BIGINT NOT NULL,
    PRIMARY KEY (programme_id, model)
);

CREATE TABLE fund_applications (
    id TEXT PRIMARY KEY,
    tenant TEXT NOT NULL,
    programme_id TEXT NOT NULL REFERENCES fund_programmes (id),
    body TEXT NOT NULL,
    state TEXT NOT NULL,
    amount BIGINT,
    expires_at BIGINT,
    reason TEXT,
    created_at BIGINT NOT NULL
);

CREATE TABLE fund_grants (
    id TEXT PRIMARY KEY,
    tenant TEXT NOT NULL,
    programme_id TEXT NOT NULL REFERENCES fund_programmes (id),
    account_id TEXT NOT NULL REFERENCES ledger_accounts (id),
    amount BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    state TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE INDEX fund_grants_tenant ON fund_grants (tenant, expires_at);
