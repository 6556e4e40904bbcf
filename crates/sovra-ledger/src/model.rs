//! Plain data: accounts, transfers, reservations, the fund's records, the
//! reconciliation report, and the clock. No I/O here.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// Largest amount one transfer may carry (amounts are stored as `BIGINT`).
pub const MAX_AMOUNT: u64 = i64::MAX as u64;

/// Check an amount of micro-credits: positive and storable.
pub fn validate_amount(amount: u64) -> Result<i64> {
    if amount == 0 {
        return Err(Error::invalid("amount", "must be positive"));
    }
    i64::try_from(amount)
        .map_err(|_| Error::invalid("amount", format!("{amount} exceeds {MAX_AMOUNT}")))
}

/// Check an id: 1-200 visible ASCII characters.
pub(crate) fn validate_id(field: &'static str, id: &str) -> Result<()> {
    if id.is_empty() || id.len() > 200 || !id.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(Error::invalid(
            field,
            format!("`{id}` is not 1-200 visible ASCII characters"),
        ));
    }
    Ok(())
}

/// What an account stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AccountKind {
    /// Where a funder's contributions come from; the only kind that may go negative.
    Funder,
    /// A programme's pot, filled by contributions, drawn by grants.
    Programme,
    /// One grant to one tenant; requests are charged to it.
    Grant,
    /// Credits a tenant holds outside any grant (not used by the fund yet).
    Tenant,
    /// Where charged credits end.
    Spent,
    /// Where an expired grant's remainder ends.
    Expired,
}

impl AccountKind {
    /// Every kind.
    pub const ALL: [AccountKind; 6] = [
        Self::Funder,
        Self::Programme,
        Self::Grant,
        Self::Tenant,
        Self::Spent,
        Self::Expired,
    ];

    /// The name stored in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Funder => "funder",
            Self::Programme => "programme",
            Self::Grant => "grant",
            Self::Tenant => "tenant",
            Self::Spent => "spent",
            Self::Expired => "expired",
        }
    }

    /// Whether accounts of this kind may go below zero: only sources.
    pub fn may_go_negative(self) -> bool {
        matches!(self, Self::Funder)
    }

    pub(crate) fn parse(s: &str) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| Error::Corrupt(format!("unknown account kind `{s}`")))
    }
}

/// An account to open.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewAccount {
    pub id: String,
    pub kind: AccountKind,
    /// Who the account belongs to: a funder, programme or tenant id.
    pub owner: String,
}

impl NewAccount {
    pub fn new(id: impl Into<String>, kind: AccountKind, owner: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            kind,
            owner: owner.into(),
        }
    }
}

/// An account with its cached balances.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    pub id: String,
    pub kind: AccountKind,
    pub owner: String,
    pub may_go_negative: bool,
    /// Posted credits minus posted debits.
    pub balance: i64,
    /// Held by pending reservations that debit this account.
    pub held: i64,
    pub created_at: i64,
}

impl Account {
    /// What a new reservation or transfer may still take: posted minus held.
    pub fn available(&self) -> i64 {
        self.balance.saturating_sub(self.held)
    }
}

/// What a transfer row is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TransferKind {
    /// Single phase: moved at once.
    Posted,
    /// A reservation: holds `amount` on the debit account.
    Pending,
    /// Settles a reservation with `amount` (the actual cost).
    Post,
    /// Releases a reservation (`amount` is what was held).
    Void,
    /// Releases a reservation past its expiry (`amount` is what was held).
    Expire,
}

impl TransferKind {
    pub(crate) const ALL: [TransferKind; 5] = [
        Self::Posted,
        Self::Pending,
        Self::Post,
        Self::Void,
        Self::Expire,
    ];

    /// The name stored in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Posted => "posted",
            Self::Pending => "pending",
            Self::Post => "post",
            Self::Void => "void",
            Self::Expire => "expire",
        }
    }

    pub(crate) fn parse(s: &str) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| Error::Corrupt(format!("unknown transfer kind `{s}`")))
    }
}

/// A transfer to make (single phase) or a reservation to take.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewTransfer {
    /// The idempotency id.
    pub id: String,
    pub debit: String,
    pub credit: String,
    /// Micro-credits, positive.
    pub amount: u64,
    pub reason: String,
}

impl NewTransfer {
    pub fn new(
        id: impl Into<String>,
        debit: impl Into<String>,
        credit: impl Into<String>,
        amount: u64,
        reason: impl Into<String>,
    ) -> Self {
        Self {
            id: id.into(),
            debit: debit.into(),
            credit: credit.into(),
            amount,
            reason: reason.into(),
        }
    }
}

/// A transfer as written; immutable once written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transfer {
    pub id: String,
    pub kind: TransferKind,
    pub debit: String,
    pub credit: String,
    pub amount: u64,
    /// For post, void and expire: the reservation settled.
    pub pending_id: Option<String>,
    /// For reservations: when the hold lapses (ms since the epoch).
    pub expires_at: Option<i64>,
    pub reason: String,
    pub created_at: i64,
}

/// Where a reservation stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReservationState {
    Pending,
    Posted,
    Voided,
    Expired,
}

impl ReservationState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Posted => "posted",
            Self::Voided => "voided",
            Self::Expired => "expired",
        }
    }
}

/// What a settling transfer of `kind` makes of its reservation.
pub(crate) fn settled_state(kind: TransferKind) -> ReservationState {
    match kind {
        TransferKind::Post => ReservationState::Posted,
        TransferKind::Void => ReservationState::Voided,
        TransferKind::Expire => ReservationState::Expired,
        TransferKind::Posted | TransferKind::Pending => ReservationState::Pending,
    }
}

/// A reservation and what settled it, if anything.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reservation {
    pub pending: Transfer,
    pub state: ReservationState,
    pub settled_by: Option<Transfer>,
}

/// One cached value that differs from what the transfers say.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Mismatch {
    pub account: String,
    /// `balance`, `held`, `negative` or `total`.
    pub field: &'static str,
    pub cached: i128,
    pub derived: i128,
}

/// What [`Ledger::reconcile`](crate::Ledger::reconcile) found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Reconciliation {
    pub accounts: u64,
    pub transfers: u64,
    /// Sum of every posted balance: zero in a sound ledger.
    pub total: i128,
    pub mismatches: Vec<Mismatch>,
}

impl Reconciliation {
    /// No mismatch and the books balance.
    pub fn is_clean(&self) -> bool {
        self.mismatches.is_empty() && self.total == 0
    }
}

/// Someone who puts credits into programmes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Funder {
    pub id: String,
    pub name: String,
}

/// A programme: its price list, who may apply, and when it runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Programme {
    pub id: String,
    pub name: String,
    pub eligibility: String,
    pub starts_at: i64,
    pub ends_at: i64,
    pub prices: crate::PriceList,
}

/// Where an application stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ApplicationState {
    Pending,
    Approved,
    Rejected,
}

impl ApplicationState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Approved => "approved",
            Self::Rejected => "rejected",
        }
    }

    pub(crate) fn parse(s: &str) -> Result<Self> {
        match s {
            "pending" => Ok(Self::Pending),
            "approved" => Ok(Self::Approved),
            "rejected" => Ok(Self::Rejected),
            other => Err(Error::Corrupt(format!(
                "unknown application state `{other}`"
            ))),
        }
    }
}

/// A tenant's application to a programme.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Application {
    pub id: String,
    pub tenant: String,
    pub programme: String,
    pub text: String,
    pub state: ApplicationState,
    /// Approved: the amount granted and its expiry.
    pub amount: Option<u64>,
    pub expires_at: Option<i64>,
    /// Rejected: why.
    pub reason: Option<String>,
    pub created_at: i64,
}

/// Where a grant stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GrantState {
    Active,
    Expired,
    Revoked,
}

impl GrantState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Expired => "expired",
            Self::Revoked => "revoked",
        }
    }

    pub(crate) fn parse(s: &str) -> Result<Self> {
        match s {
            "active" => Ok(Self::Active),
            "expired" => Ok(Self::Expired),
            "revoked" => Ok(Self::Revoked),
            other => Err(Error::Corrupt(format!("unknown grant state `{other}`"))),
        }
    }
}

/// Credits a programme granted to a tenant, held in their own account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grant {
    pub id: String,
    pub tenant: String,
    pub programme: String,
    pub account: String,
    pub amount: u64,
    pub expires_at: i64,
    pub state: GrantState,
    pub created_at: i64,
}

/// Where the ledger reads the time (ms since the epoch).
pub trait Clock: Send + Sync + std::fmt::Debug {
    fn now_ms(&self) -> i64;
}

/// The wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
            .unwrap_or(0)
    }
}

/// A clock tests move by hand.
#[derive(Debug, Clone, Default)]
pub struct ManualClock(Arc<AtomicI64>);

impl ManualClock {
    pub fn at(ms: i64) -> Self {
        Self(Arc::new(AtomicI64::new(ms)))
    }
    pub fn set(&self, ms: i64) {
        self.0.store(ms, Ordering::SeqCst);
    }
    pub fn advance(&self, ms: i64) {
        self.0.fetch_add(ms, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    #[test]
    fn amounts_must_be_positive_and_fit_a_bigint() {
        assert!(matches!(
            validate_amount(0),
            Err(Error::Invalid {
                field: "amount",
                ..
            })
        ));
        assert_eq!(validate_amount(1).unwrap(), 1);
        assert_eq!(validate_amount(MAX_AMOUNT).unwrap(), i64::MAX);
        assert!(matches!(
            validate_amount(MAX_AMOUNT + 1),
            Err(Error::Invalid {
                field: "amount",
                ..
            })
        ));
        assert!(validate_amount(u64::MAX).is_err());
    }

    #[test]
    fn only_funders_may_go_negative() {
        for k in AccountKind::ALL {
            assert_eq!(k.may_go_negative(), k == AccountKind::Funder, "{k:?}");
            assert_eq!(AccountKind::parse(k.as_str()).unwrap(), k);
        }
        for k in TransferKind::ALL {
            assert_eq!(TransferKind::parse(k.as_str()).unwrap(), k);
        }
    }

    #[test]
    fn ids_are_visible_ascii() {
        assert!(validate_id("id", "grant:abc-1").is_ok());
        assert!(validate_id("id", "").is_err());
        assert!(validate_id("id", "a b").is_err());
        assert!(validate_id("id", &"x".repeat(201)).is_err());
    }

    #[test]
    fn available_is_posted_minus_held() {
        let a = Account {
            id: "g".into(),
            kind: AccountKind::Grant,
            owner: "t".into(),
            may_go_negative: false,
            balance: 100,
            held: 30,
            created_at: 0,
        };
        assert_eq!(a.available(), 70);
    }
}
