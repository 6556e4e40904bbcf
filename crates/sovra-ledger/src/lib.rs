//! The start-up fund's ledger: double-entry accounts, two-phase transfers,
//! and the fund's model (funders, programmes, applications, grants) on top.
//!
//! Every movement of credits is a [`Transfer`] from a debit account to a
//! credit account; balances are derived from transfers and cached on the
//! account rows in the same transaction, so [`Ledger::reconcile`] can
//! recompute them and name any difference. A request is metered in two
//! phases: [`Ledger::reserve`] holds the worst case, [`Ledger::post`] settles
//! the actual amount, [`Ledger::void`] or [`Ledger::expire_due`] release it.
//!
//! Two backends share one body of SQL (`sql.rs`): SQLite (one writer,
//! `BEGIN IMMEDIATE`) and PostgreSQL (several replicas; conditional
//! `UPDATE`s take the row locks, in account-id order). The database also
//! refuses a negative balance on its own, through a `CHECK` constraint.
//! [`Fund`] is the fund's logic over the two traits, [`Ledger`] and
//! [`FundStore`]. See `docs/fund.md`.

mod error;
mod fund;
mod model;
mod postgres;
mod price;
mod sql;
mod sqlite;

#[cfg(test)]
mod conformance;

pub use error::{Error, Result};
pub use fund::{Fund, expired_account, funder_account, programme_account, spent_account};
pub use model::{
    Account, AccountKind, Application, ApplicationState, Clock, Funder, Grant, GrantState,
    MAX_AMOUNT, ManualClock, Mismatch, NewAccount, NewTransfer, Programme, Reconciliation,
    Reservation, ReservationState, SystemClock, Transfer, TransferKind, validate_amount,
};
pub use postgres::{PostgresLedger, testdb};
pub use price::{ChargePlan, GrantBalance, ModelPrice, PriceList, Usage, plan_charge};
pub use sqlite::SqliteLedger;

use async_trait::async_trait;

/// The double-entry ledger: accounts, transfers, reservations.
///
/// Every write takes an idempotency id: the same id with the same data
/// returns the first result and changes nothing; with other data it is
/// [`Error::Conflict`] naming the field.
#[async_trait]
pub trait Ledger: Send + Sync + std::fmt::Debug {
    /// Open an account (idempotent by id).
    async fn create_account(&self, new: NewAccount) -> Result<Account>;
    /// One account with its cached balances.
    async fn account(&self, id: &str) -> Result<Account>;
    /// Move `amount` at once (single phase).
    async fn transfer(&self, new: NewTransfer) -> Result<Transfer>;
    /// Hold `amount` against the debit account's available balance until
    /// `expires_at` (ms since the epoch).
    async fn reserve(&self, new: NewTransfer, expires_at: i64) -> Result<Transfer>;
    /// Settle reservation `pending` with `amount` (at most what was held);
    /// the rest is released.
    async fn post(&self, id: &str, pending: &str, amount: u64, reason: &str) -> Result<Transfer>;
    /// Release reservation `pending` in full.
    async fn void(&self, id: &str, pending: &str, reason: &str) -> Result<Transfer>;
    /// Release every reservation whose expiry is at or before `now`;
    /// returns the expiry transfers written.
    async fn expire_due(&self, now: i64) -> Result<Vec<Transfer>>;
    /// One transfer by id.
    async fn transfer_by_id(&self, id: &str) -> Result<Transfer>;
    /// Where a reservation stands.
    async fn reservation(&self, pending: &str) -> Result<Reservation>;
    /// Recompute every balance from the transfers and compare.
    async fn reconcile(&self) -> Result<Reconciliation>;
}

/// The fund's records: funders, programmes with price lists,
/// applications and grants. Money moves only through [`Ledger`].
#[async_trait]
pub trait FundStore: Send + Sync + std::fmt::Debug {
    /// Record a funder (idempotent by id).
    async fn put_funder(&self, funder: &Funder) -> Result<Funder>;
    /// Record a programme with its price list (idempotent by id).
    async fn put_programme(&self, programme: &Programme) -> Result<Programme>;
    /// One programme with its price list.
    async fn programme(&self, id: &str) -> Result<Programme>;
    /// Record a new application (idempotent by id).
    async fn put_application(&self, application: &Application) -> Result<Application>;
    /// One application.
    async fn application(&self, id: &str) -> Result<Application>;
    /// Move a pending application to approved or rejected; a decided
    /// application is returned unchanged.
    async fn decide_application(&self, decided: &Application) -> Result<Application>;
    /// Record a grant (idempotent by id).
    async fn put_grant(&self, grant: &Grant) -> Result<Grant>;
    /// One grant.
    async fn grant(&self, id: &str) -> Result<Grant>;
    /// A tenant's grants, earliest expiry first.
    async fn grants_of(&self, tenant: &str) -> Result<Vec<Grant>>;
    /// Active grants whose expiry is at or before `now`.
    async fn grants_due(&self, now: i64) -> Result<Vec<Grant>>;
    /// Set a grant's state.
    async fn set_grant_state(&self, id: &str, state: GrantState) -> Result<()>;
}
