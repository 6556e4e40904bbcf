//! The ledger's failures, each one a server can map to an HTTP status:
//! insufficient credits (402), not found (404), conflict and already
//! settled (409), invalid (422), expired (410), store (500).

/// What went wrong, in the ledger's terms.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The debit account's available balance does not cover the amount.
    #[error(
        "insufficient credits in account {account}: {available} available, {requested} requested"
    )]
    InsufficientCredits {
        account: String,
        available: i64,
        requested: u64,
    },
    /// No such account, transfer, reservation, programme, application or grant.
    #[error("{what} {id} not found")]
    NotFound { what: &'static str, id: String },
    /// An idempotency id was reused with other data; `field` is the first
    /// field that differs.
    #[error("id {id} was already used with a different {field}")]
    Conflict { id: String, field: &'static str },
    /// A field's value is not acceptable.
    #[error("invalid {field}: {reason}")]
    Invalid { field: &'static str, reason: String },
    /// The reservation (or grant) expired before it was settled (or used).
    #[error("{what} {id} expired")]
    Expired { what: &'static str, id: String },
    /// The reservation was already settled by another transfer.
    #[error("reservation {reservation} is already {state}")]
    Settled { reservation: String, state: String },
    /// The database failed.
    #[error("ledger store: {0}")]
    Store(#[from] sqlx::Error),
    /// Migrations failed.
    #[error("ledger migrations: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A row the ledger wrote does not read back (a bug or a hand edit).
    #[error("corrupt ledger row: {0}")]
    Corrupt(String),
}

/// The ledger's result.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub(crate) fn invalid(field: &'static str, reason: impl Into<String>) -> Self {
        Self::Invalid {
            field,
            reason: reason.into(),
        }
    }

    pub(crate) fn not_found(what: &'static str, id: &str) -> Self {
        Self::NotFound {
            what,
            id: id.to_owned(),
        }
    }

    /// A unique index refused a row: a concurrent writer used the same id.
    pub(crate) fn is_unique_violation(&self) -> bool {
        matches!(self, Self::Store(sqlx::Error::Database(d)) if d.is_unique_violation())
    }
}
