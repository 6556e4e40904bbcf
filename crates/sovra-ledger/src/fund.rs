//! The fund's logic over [`Ledger`] and [`FundStore`]: funders contribute
//! to programmes, tenants apply, approval opens a grant account funded by
//! the programme, requests are reserved against grants and settled at the
//! programme's prices, and expired grants' remainders move to `expired`.
//!
//! Steps that span the two traits are each idempotent by id (an approval's
//! account, transfer and grant are all named after the application), so a
//! retry completes an interrupted step instead of repeating it.
//!
//! Accounts are named `funder:<id>`, `programme:<id>`, `spent:<programme>`,
//! `expired:<programme>` and `grant:<application>`.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::{
    Account, AccountKind, Application, ApplicationState, ChargePlan, Clock, Error, FundStore,
    Funder, Grant, GrantBalance, GrantState, Ledger, NewAccount, NewTransfer, Programme, Result,
    Transfer, Usage, plan_charge, validate_amount,
};

/// The start-up fund.
#[derive(Debug, Clone)]
pub struct Fund {
    ledger: Arc<dyn Ledger>,
    store: Arc<dyn FundStore>,
    clock: Arc<dyn Clock>,
}

/// The account a funder contributes from.
pub fn funder_account(funder: &str) -> String {
    format!("funder:{funder}")
}
/// A programme's pot.
pub fn programme_account(programme: &str) -> String {
    format!("programme:{programme}")
}
/// Where a programme's charged credits end.
pub fn spent_account(programme: &str) -> String {
    format!("spent:{programme}")
}
/// Where a programme's expired grant remainders end.
pub fn expired_account(programme: &str) -> String {
    format!("expired:{programme}")
}

impl Fund {
    pub fn new(ledger: Arc<dyn Ledger>, store: Arc<dyn FundStore>, clock: Arc<dyn Clock>) -> Self {
        Self {
            ledger,
            store,
            clock,
        }
    }

    /// The ledger underneath.
    pub fn ledger(&self) -> &Arc<dyn Ledger> {
        &self.ledger
    }

    /// The fund's records underneath.
    pub fn store(&self) -> &Arc<dyn FundStore> {
        &self.store
    }

    /// Record a funder and open its account.
    pub async fn add_funder(&self, funder: &Funder) -> Result<Account> {
        self.store.put_funder(funder).await?;
        self.ledger
            .create_account(NewAccount::new(
                funder_account(&funder.id),
                AccountKind::Funder,
                &funder.id,
            ))
            .await
    }

    /// Record a programme and open its pot, spent and expired accounts.
    pub async fn add_programme(&self, programme: &Programme) -> Result<Programme> {
        programme.prices.validate()?;
        if programme.ends_at <= programme.starts_at {
            return Err(Error::invalid("ends_at", "is not after starts_at"));
        }
        let stored = self.store.put_programme(programme).await?;
        for (id, kind) in [
            (programme_account(&programme.id), AccountKind::Programme),
            (spent_account(&programme.id), AccountKind::Spent),
            (expired_account(&programme.id), AccountKind::Expired),
        ] {
            self.ledger
                .create_account(NewAccount::new(id, kind, &programme.id))
                .await?;
        }
        Ok(stored)
    }

    /// A funder's contribution to a programme (idempotent by `id`).
    pub async fn contribute(
        &self,
        id: &str,
        funder: &str,
        programme: &str,
        amount: u64,
    ) -> Result<Transfer> {
        self.ledger
            .transfer(NewTransfer::new(
                id,
                funder_account(funder),
                programme_account(programme),
                amount,
                format!("contribution of {funder} to {programme}"),
            ))
            .await
    }

    /// A tenant applies to a programme that is open now.
    pub async fn apply(
        &self,
        id: &str,
        tenant: &str,
        programme: &str,
        text: &str,
    ) -> Result<Application> {
        let p = self.store.programme(programme).await?;
        let now = self.clock.now_ms();
        if now < p.starts_at || now >= p.ends_at {
            return Err(Error::invalid(
                "programme",
                format!(
                    "{programme} takes applications from {} to {}, not at {now}",
                    p.starts_at, p.ends_at
                ),
            ));
        }
        crate::model::validate_id("tenant", tenant)?;
        self.store
            .put_application(&Application {
                id: id.to_owned(),
                tenant: tenant.to_owned(),
                programme: programme.to_owned(),
                text: text.to_owned(),
                state: ApplicationState::Pending,
                amount: None,
                expires_at: None,
                reason: None,
                created_at: now,
            })
            .await
    }

    /// Approve an application: a grant of `amount` until `expires_at`, paid
    /// from the programme's pot. Approving again with the same terms
    /// returns the grant (and completes an interrupted approval).
    pub async fn approve(&self, application: &str, amount: u64, expires_at: i64) -> Result<Grant> {
        validate_amount(amount)?;
        let app = self.store.application(application).await?;
        match app.state {
            ApplicationState::Rejected => {
                return Err(Error::Conflict {
                    id: application.to_owned(),
                    field: "state",
                });
            }
            ApplicationState::Approved => {
                if app.amount != Some(amount) {
                    return Err(Error::Conflict {
                        id: application.to_owned(),
                        field: "amount",
                    });
                }
                if app.expires_at != Some(expires_at) {
                    return Err(Error::Conflict {
                        id: application.to_owned(),
                        field: "expires_at",
                    });
                }
            }
            ApplicationState::Pending => {
                let now = self.clock.now_ms();
                if expires_at <= now {
                    return Err(Error::invalid(
                        "expires_at",
                        format!("{expires_at} is not after now ({now})"),
                    ));
                }
            }
        }
        let account = format!("grant:{application}");
        self.ledger
            .create_account(NewAccount::new(&account, AccountKind::Grant, &app.tenant))
            .await?;
        self.ledger
            .transfer(NewTransfer::new(
                &account,
                programme_account(&app.programme),
                &account,
                amount,
                format!("grant for application {application}"),
            ))
            .await?;
        let grant = self
            .store
            .put_grant(&Grant {
                id: application.to_owned(),
                tenant: app.tenant.clone(),
                programme: app.programme.clone(),
                account,
                amount,
                expires_at,
                state: GrantState::Active,
                created_at: self.clock.now_ms(),
            })
            .await?;
        self.store
            .decide_application(&Application {
                state: ApplicationState::Approved,
                amount: Some(amount),
                expires_at: Some(expires_at),
                ..app
            })
            .await?;
        Ok(grant)
    }

    /// Reject an application with a reason (again with the same reason: no change).
    pub async fn reject(&self, application: &str, reason: &str) -> Result<Application> {
        let app = self.store.application(application).await?;
        match app.state {
            ApplicationState::Approved => Err(Error::Conflict {
                id: application.to_owned(),
                field: "state",
            }),
            ApplicationState::Rejected if app.reason.as_deref() == Some(reason) => Ok(app),
            ApplicationState::Rejected => Err(Error::Conflict {
                id: application.to_owned(),
                field: "reason",
            }),
            ApplicationState::Pending => {
                self.store
                    .decide_application(&Application {
                        state: ApplicationState::Rejected,
                        reason: Some(reason.to_owned()),
                        ..app
                    })
                    .await
            }
        }
    }

    /// A tenant's active grants with what each has available now.
    pub async fn grant_balances(&self, tenant: &str) -> Result<Vec<GrantBalance>> {
        let mut out = Vec::new();
        for g in self.store.grants_of(tenant).await? {
            if g.state != GrantState::Active {
                continue;
            }
            let a = self.ledger.account(&g.account).await?;
            out.push(GrantBalance {
                grant: g.id,
                account: g.account,
                programme: g.programme,
                expires_at: g.expires_at,
                available: a.available(),
            });
        }
        Ok(out)
    }

    /// Which grant pays for a request of `model` and its worst case.
    pub async fn charge_plan(
        &self,
        tenant: &str,
        model: &str,
        prompt_tokens: u64,
        max_tokens: u64,
    ) -> Result<ChargePlan> {
        let grants = self.grant_balances(tenant).await?;
        let mut prices = BTreeMap::new();
        for g in &grants {
            if !prices.contains_key(&g.programme) {
                let p = self.store.programme(&g.programme).await?;
                prices.insert(g.programme.clone(), p.prices);
            }
        }
        plan_charge(
            tenant,
            &grants,
            &prices,
            model,
            prompt_tokens,
            max_tokens,
            self.clock.now_ms(),
        )
    }

    /// Hold a plan's worst case for `hold_ms` (idempotent by `id`).
    pub async fn reserve(&self, id: &str, plan: &ChargePlan, hold_ms: i64) -> Result<Transfer> {
        if plan.worst_case == 0 {
            return Err(Error::invalid(
                "worst_case",
                format!(
                    "{} is free at programme {}'s prices: nothing to reserve",
                    plan.model, plan.programme
                ),
            ));
        }
        let expires_at = self.clock.now_ms().saturating_add(hold_ms.max(1));
        self.ledger
            .reserve(
                NewTransfer::new(
                    id,
                    &plan.account,
                    spent_account(&plan.programme),
                    plan.worst_case,
                    format!("{} for {}", plan.model, plan.tenant),
                ),
                expires_at,
            )
            .await
    }

    /// Settle reservation `pending` with what the request used, at the
    /// programme's prices; capped at what was held; nothing used voids it.
    pub async fn settle(
        &self,
        id: &str,
        pending: &str,
        programme: &str,
        model: &str,
        usage: Usage,
    ) -> Result<Transfer> {
        let r = self.ledger.reservation(pending).await?;
        let cost = self
            .store
            .programme(programme)
            .await?
            .prices
            .cost(model, usage)?
            .min(r.pending.amount);
        if cost == 0 {
            self.ledger.void(id, pending, "nothing used").await
        } else {
            self.ledger.post(id, pending, cost, "used").await
        }
    }

    /// Move what a grant has available back to its programme and close it.
    pub async fn revoke(&self, grant: &str, reason: &str) -> Result<Option<Transfer>> {
        let g = self.store.grant(grant).await?;
        let moved = self
            .sweep(&g, &programme_account(&g.programme), "revoke", reason)
            .await?;
        self.store
            .set_grant_state(grant, GrantState::Revoked)
            .await?;
        Ok(moved)
    }

    /// Close every grant past its expiry: what it has available moves to
    /// the programme's `expired` account. Holds still pending on it settle
    /// later; what they release is swept on a later call.
    pub async fn expire_grants(&self) -> Result<Vec<Transfer>> {
        let now = self.clock.now_ms();
        let mut out = Vec::new();
        for g in self.store.grants_due(now).await? {
            if g.state == GrantState::Active {
                self.store
                    .set_grant_state(&g.id, GrantState::Expired)
                    .await?;
            }
            match self
                .sweep(
                    &g,
                    &expired_account(&g.programme),
                    "expire",
                    "grant expired",
                )
                .await
            {
                Ok(Some(t)) => out.push(t),
                Ok(None) => {}
                // A reservation raced the sweep; the next call takes the rest.
                Err(Error::InsufficientCredits { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }

    async fn sweep(
        &self,
        g: &Grant,
        to: &str,
        what: &str,
        reason: &str,
    ) -> Result<Option<Transfer>> {
        let a = self.ledger.account(&g.account).await?;
        let available = a.available();
        if available <= 0 {
            return Ok(None);
        }
        let id = format!("{what}:{}:{}", g.id, uuid::Uuid::new_v4().simple());
        self.ledger
            .transfer(NewTransfer::new(
                id,
                &g.account,
                to,
                available.unsigned_abs(),
                reason,
            ))
            .await
            .map(Some)
    }
}
