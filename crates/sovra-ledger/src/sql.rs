//! The one body of SQL both backends run.
//!
//! SQLite and PostgreSQL accept the same statements here (`$n` parameters,
//! `CAST`, `NOT EXISTS`, conditional `UPDATE`), so [`Ledger`](crate::Ledger)
//! and [`FundStore`](crate::FundStore) are written once, in
//! [`impl_sql_ledger!`], and stamped out for each backend's pool type; how
//! a write or a read transaction begins lives in `sqlite.rs` and
//! `postgres.rs`.
//!
//! Concurrency: every balance change is a conditional `UPDATE` (`... WHERE
//! balance - held >= $amount`), which in PostgreSQL takes the row lock and
//! re-checks the condition on the row as committed by whoever held it
//! before; the two accounts of a transfer are updated in id order, so two
//! transfers never wait on each other in a cycle. SQLite has one writer
//! (`BEGIN IMMEDIATE`). A transfer's id is its primary key and a
//! reservation is settled at most once (a unique index on `pending_id`): a
//! concurrent duplicate fails on the index, and the operation is retried,
//! finding the row the other writer committed.

use crate::{Error, Result, Transfer, TransferKind};

/// Attempts per operation: the second finds what a concurrent duplicate wrote.
pub(crate) const ATTEMPTS: usize = 3;

/// What a request asks for, to compare with the transfer already under its id.
pub(crate) struct Want<'a> {
    pub kind: TransferKind,
    pub debit: Option<&'a str>,
    pub credit: Option<&'a str>,
    pub amount: Option<u64>,
    pub pending_id: Option<&'a str>,
    pub expires_at: Option<i64>,
    pub reason: &'a str,
}

/// A replay with the same data returns the original; other data is a
/// conflict naming the first field that differs.
pub(crate) fn check_replay(existing: &Transfer, want: &Want<'_>) -> Result<()> {
    let conflict = |field| Error::Conflict {
        id: existing.id.clone(),
        field,
    };
    if existing.kind != want.kind {
        return Err(conflict("kind"));
    }
    if want.debit.is_some_and(|d| d != existing.debit) {
        return Err(conflict("debit"));
    }
    if want.credit.is_some_and(|c| c != existing.credit) {
        return Err(conflict("credit"));
    }
    if want.amount.is_some_and(|a| a != existing.amount) {
        return Err(conflict("amount"));
    }
    if want.pending_id.is_some() && want.pending_id != existing.pending_id.as_deref() {
        return Err(conflict("pending_id"));
    }
    if want.expires_at.is_some() && want.expires_at != existing.expires_at {
        return Err(conflict("expires_at"));
    }
    if want.reason != existing.reason {
        return Err(conflict("reason"));
    }
    Ok(())
}

pub(crate) fn to_u64(field: &str, v: i64) -> Result<u64> {
    u64::try_from(v).map_err(|_| Error::Corrupt(format!("negative {field} {v}")))
}

/// Implement [`Ledger`](crate::Ledger) and [`FundStore`](crate::FundStore)
/// for `$ledger` (fields `pool` and `clock`, methods `begin_write` and
/// `begin_read`) over database `$db`.
macro_rules! impl_sql_ledger {
    ($ledger:ty, $db:ty) => {
        type Conn = <$db as sqlx::Database>::Connection;
        type DbRow = <$db as sqlx::Database>::Row;

        use $crate::model::{validate_amount, validate_id};
        use $crate::sql::{ATTEMPTS, Want, check_replay, to_u64};
        use $crate::{
            Account, AccountKind, Application, ApplicationState, Error, Funder, Grant,
            GrantState, Mismatch, ModelPrice, NewAccount, NewTransfer, PriceList, Programme,
            Reconciliation, Reservation, ReservationState, Result, Transfer, TransferKind,
        };
        use sqlx::Row as _;

        fn transfer_row(row: &DbRow) -> Result<Transfer> {
            let kind: String = row.try_get("kind")?;
            let amount: i64 = row.try_get("amount")?;
            Ok(Transfer {
                id: row.try_get("id")?,
                kind: TransferKind::parse(&kind)?,
                debit: row.try_get("debit_account")?,
                credit: row.try_get("credit_account")?,
                amount: to_u64("amount", amount)?,
                pending_id: row.try_get("pending_id")?,
                expires_at: row.try_get("expires_at")?,
                reason: row.try_get("reason")?,
                created_at: row.try_get("created_at")?,
            })
        }

        fn account_row(row: &DbRow) -> Result<Account> {
            let kind: String = row.try_get("kind")?;
            Ok(Account {
                id: row.try_get("id")?,
                kind: AccountKind::parse(&kind)?,
                owner: row.try_get("owner")?,
                may_go_negative: row.try_get("may_go_negative")?,
                balance: row.try_get("balance")?,
                held: row.try_get("held")?,
                created_at: row.try_get("created_at")?,
            })
        }

        async fn find_transfer(conn: &mut Conn, id: &str) -> Result<Option<Transfer>> {
            sqlx::query(
                "SELECT id, kind, debit_account, credit_account, amount, pending_id, expires_at, reason, created_at FROM ledger_transfers WHERE id = $1",
            )
            .bind(id)
            .fetch_optional(&mut *conn)
            .await?
            .as_ref()
            .map(transfer_row)
            .transpose()
        }

        async fn find_settlement(conn: &mut Conn, pending: &str) -> Result<Option<Transfer>> {
            sqlx::query(
                "SELECT id, kind, debit_account, credit_account, amount, pending_id, expires_at, reason, created_at FROM ledger_transfers WHERE pending_id = $1",
            )
            .bind(pending)
            .fetch_optional(&mut *conn)
            .await?
            .as_ref()
            .map(transfer_row)
            .transpose()
        }

        async fn find_account(conn: &mut Conn, id: &str) -> Result<Option<Account>> {
            sqlx::query(
                "SELECT id, kind, owner, may_go_negative, balance, held, created_at FROM ledger_accounts WHERE id = $1",
            )
            .bind(id)
            .fetch_optional(&mut *conn)
            .await?
            .as_ref()
            .map(account_row)
            .transpose()
        }

        async fn need_account(conn: &mut Conn, id: &str) -> Result<Account> {
            find_account(conn, id)
                .await?
                .ok_or_else(|| Error::not_found("account", id))
        }

        async fn insert_transfer(conn: &mut Conn, t: &Transfer) -> Result<()> {
            sqlx::query(
                "INSERT INTO ledger_transfers (id, kind, debit_account, credit_account, amount, pending_id, expires_at, reason, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            )
            .bind(&t.id)
            .bind(t.kind.as_str())
            .bind(&t.debit)
            .bind(&t.credit)
            .bind(validate_amount(t.amount)?)
            .bind(&t.pending_id)
            .bind(t.expires_at)
            .bind(&t.reason)
            .bind(t.created_at)
            .execute(&mut *conn)
            .await?;
            Ok(())
        }

        /// Why a conditional update of `amount` touched no row (a debit or
        /// hold when `debit`, else a credit).
        async fn refused(conn: &mut Conn, account: &str, amount: i64, debit: bool) -> Error {
            match find_account(conn, account).await {
                Ok(Some(a)) if debit && !a.may_go_negative && a.available() < amount => {
                    Error::InsufficientCredits {
                        account: account.to_owned(),
                        available: a.available(),
                        requested: amount.unsigned_abs(),
                    }
                }
                Ok(Some(a)) => Error::invalid(
                    "amount",
                    format!(
                        "{amount} would take account {account} past what a balance holds (balance {}, held {})",
                        a.balance, a.held
                    ),
                ),
                Ok(None) => Error::not_found("account", account),
                Err(e) => e,
            }
        }

        /// Debit `amount` from the posted balance, if available covers it.
        async fn take(conn: &mut Conn, account: &str, amount: i64) -> Result<()> {
            let done = sqlx::query(
                "UPDATE ledger_accounts SET balance = balance - $2 WHERE id = $1 AND (may_go_negative OR balance - held >= $2) AND balance >= $3",
            )
            .bind(account)
            .bind(amount)
            .bind(i64::MIN + amount)
            .execute(&mut *conn)
            .await?
            .rows_affected();
            if done == 1 { Ok(()) } else { Err(refused(conn, account, amount, true).await) }
        }

        /// Hold `amount` on the account, if available covers it.
        async fn hold(conn: &mut Conn, account: &str, amount: i64) -> Result<()> {
            let done = sqlx::query(
                "UPDATE ledger_accounts SET held = held + $2 WHERE id = $1 AND (may_go_negative OR balance - held >= $2) AND held <= $3",
            )
            .bind(account)
            .bind(amount)
            .bind(i64::MAX - amount)
            .execute(&mut *conn)
            .await?
            .rows_affected();
            if done == 1 { Ok(()) } else { Err(refused(conn, account, amount, true).await) }
        }

        /// Release `held` and debit `actual` (at most `held`).
        async fn release(conn: &mut Conn, account: &str, held: i64, actual: i64) -> Result<()> {
            let done = sqlx::query(
                "UPDATE ledger_accounts SET held = held - $2, balance = balance - $3 WHERE id = $1 AND held >= $2 AND balance >= $4",
            )
            .bind(account)
            .bind(held)
            .bind(actual)
            .bind(i64::MIN + actual)
            .execute(&mut *conn)
            .await?
            .rows_affected();
            if done == 1 {
                Ok(())
            } else {
                Err(Error::Corrupt(format!(
                    "account {account} holds less than a reservation of {held}"
                )))
            }
        }

        /// Credit `amount` to the posted balance.
        async fn give(conn: &mut Conn, account: &str, amount: i64) -> Result<()> {
            let done = sqlx::query(
                "UPDATE ledger_accounts SET balance = balance + $2 WHERE id = $1 AND balance <= $3",
            )
            .bind(account)
            .bind(amount)
            .bind(i64::MAX - amount)
            .execute(&mut *conn)
            .await?
            .rows_affected();
            if done == 1 { Ok(()) } else { Err(refused(conn, account, amount, false).await) }
        }

        impl $ledger {
            fn now(&self) -> i64 {
                self.clock.now_ms()
            }

            async fn transfer_once(&self, new: &NewTransfer) -> Result<Transfer> {
                let amount = validate_amount(new.amount)?;
                let mut tx = self.begin_write().await?;
                if let Some(t) = find_transfer(&mut tx, &new.id).await? {
                    check_replay(&t, &Want {
                        kind: TransferKind::Posted,
                        debit: Some(&new.debit),
                        credit: Some(&new.credit),
                        amount: Some(new.amount),
                        pending_id: None,
                        expires_at: None,
                        reason: &new.reason,
                    })?;
                    return Ok(t);
                }
                need_account(&mut tx, &new.debit).await?;
                need_account(&mut tx, &new.credit).await?;
                let t = Transfer {
                    id: new.id.clone(),
                    kind: TransferKind::Posted,
                    debit: new.debit.clone(),
                    credit: new.credit.clone(),
                    amount: new.amount,
                    pending_id: None,
                    expires_at: None,
                    reason: new.reason.clone(),
                    created_at: self.now(),
                };
                insert_transfer(&mut tx, &t).await?;
                // Account rows in id order: no two transfers wait on each other in a cycle.
                if new.debit < new.credit {
                    take(&mut tx, &new.debit, amount).await?;
                    give(&mut tx, &new.credit, amount).await?;
                } else {
                    give(&mut tx, &new.credit, amount).await?;
                    take(&mut tx, &new.debit, amount).await?;
                }
                tx.commit().await?;
                Ok(t)
            }

            async fn reserve_once(&self, new: &NewTransfer, expires_at: i64) -> Result<Transfer> {
                let amount = validate_amount(new.amount)?;
                let mut tx = self.begin_write().await?;
                if let Some(t) = find_transfer(&mut tx, &new.id).await? {
                    check_replay(&t, &Want {
                        kind: TransferKind::Pending,
                        debit: Some(&new.debit),
                        credit: Some(&new.credit),
                        amount: Some(new.amount),
                        pending_id: None,
                        expires_at: Some(expires_at),
                        reason: &new.reason,
                    })?;
                    return Ok(t);
                }
                let now = self.now();
                if expires_at <= now {
                    return Err(Error::invalid(
                        "expires_at",
                        format!("{expires_at} is not after now ({now})"),
                    ));
                }
                need_account(&mut tx, &new.debit).await?;
                need_account(&mut tx, &new.credit).await?;
                let t = Transfer {
                    id: new.id.clone(),
                    kind: TransferKind::Pending,
                    debit: new.debit.clone(),
                    credit: new.credit.clone(),
                    amount: new.amount,
                    pending_id: None,
                    expires_at: Some(expires_at),
                    reason: new.reason.clone(),
                    created_at: now,
                };
                insert_transfer(&mut tx, &t).await?;
                hold(&mut tx, &new.debit, amount).await?;
                tx.commit().await?;
                Ok(t)
            }

            /// Post, void or expire reservation `pending`; `fresh` is false
            /// when `id` was already written (a replay).
            async fn settle_once(
                &self,
                kind: TransferKind,
                id: &str,
                pending: &str,
                amount: Option<u64>,
                reason: &str,
            ) -> Result<(Transfer, bool)> {
                let mut tx = self.begin_write().await?;
                if let Some(t) = find_transfer(&mut tx, id).await? {
                    check_replay(&t, &Want {
                        kind,
                        debit: None,
                        credit: None,
                        amount,
                        pending_id: Some(pending),
                        expires_at: None,
                        reason,
                    })?;
                    return Ok((t, false));
                }
                let p = find_transfer(&mut tx, pending)
                    .await?
                    .ok_or_else(|| Error::not_found("reservation", pending))?;
                if p.kind != TransferKind::Pending {
                    return Err(Error::invalid(
                        "pending_id",
                        format!("transfer {pending} is not a reservation"),
                    ));
                }
                if let Some(s) = find_settlement(&mut tx, pending).await? {
                    return Err(Error::Settled {
                        reservation: pending.to_owned(),
                        state: $crate::model::settled_state(s.kind).as_str().to_owned(),
                    });
                }
                let now = self.now();
                let expires_at = p.expires_at.unwrap_or(i64::MAX);
                let held = validate_amount(p.amount)?;
                let actual = match kind {
                    TransferKind::Post => {
                        let a = amount.unwrap_or(0);
                        validate_amount(a)?;
                        if a > p.amount {
                            return Err(Error::invalid(
                                "amount",
                                format!("{a} is more than the {} reserved by {pending}", p.amount),
                            ));
                        }
                        if now >= expires_at {
                            return Err(Error::Expired { what: "reservation", id: pending.to_owned() });
                        }
                        a
                    }
                    TransferKind::Expire if now < expires_at => {
                        return Err(Error::invalid(
                            "now",
                            format!("reservation {pending} expires at {expires_at}, after {now}"),
                        ));
                    }
                    _ => 0,
                };
                let t = Transfer {
                    id: id.to_owned(),
                    kind,
                    debit: p.debit.clone(),
                    credit: p.credit.clone(),
                    amount: if kind == TransferKind::Post { actual } else { p.amount },
                    pending_id: Some(pending.to_owned()),
                    expires_at: None,
                    reason: reason.to_owned(),
                    created_at: now,
                };
                insert_transfer(&mut tx, &t).await?;
                let actual = i64::try_from(actual).unwrap_or(i64::MAX);
                if actual == 0 || p.debit < p.credit {
                    release(&mut tx, &p.debit, held, actual).await?;
                    if actual > 0 {
                        give(&mut tx, &p.credit, actual).await?;
                    }
                } else {
                    give(&mut tx, &p.credit, actual).await?;
                    release(&mut tx, &p.debit, held, actual).await?;
                }
                tx.commit().await?;
                Ok((t, true))
            }

            async fn settle(
                &self,
                kind: TransferKind,
                id: &str,
                pending: &str,
                amount: Option<u64>,
                reason: &str,
            ) -> Result<(Transfer, bool)> {
                validate_id("id", id)?;
                validate_id("pending_id", pending)?;
                let mut attempt = 0;
                loop {
                    attempt += 1;
                    match self.settle_once(kind, id, pending, amount, reason).await {
                        Err(e) if e.is_unique_violation() && attempt < ATTEMPTS => continue,
                        r => return r,
                    }
                }
            }

            async fn create_account_once(&self, new: &NewAccount) -> Result<Account> {
                let mut tx = self.begin_write().await?;
                if let Some(a) = find_account(&mut tx, &new.id).await? {
                    let conflict = |field| Error::Conflict { id: new.id.clone(), field };
                    if a.kind != new.kind {
                        return Err(conflict("kind"));
                    }
                    if a.owner != new.owner {
                        return Err(conflict("owner"));
                    }
                    return Ok(a);
                }
                let a = Account {
                    id: new.id.clone(),
                    kind: new.kind,
                    owner: new.owner.clone(),
                    may_go_negative: new.kind.may_go_negative(),
                    balance: 0,
                    held: 0,
                    created_at: self.now(),
                };
                sqlx::query(
                    "INSERT INTO ledger_accounts (id, kind, owner, may_go_negative, balance, held, created_at) VALUES ($1, $2, $3, $4, 0, 0, $5)",
                )
                .bind(&a.id)
                .bind(a.kind.as_str())
                .bind(&a.owner)
                .bind(a.may_go_negative)
                .bind(a.created_at)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(a)
            }

            async fn programme_in(conn: &mut Conn, id: &str) -> Result<Option<Programme>> {
                let Some(row) = sqlx::query(
                    "SELECT id, name, eligibility, starts_at, ends_at, embeddings_per_1k, retrieval_per_query FROM fund_programmes WHERE id = $1",
                )
                .bind(id)
                .fetch_optional(&mut *conn)
                .await?
                else {
                    return Ok(None);
                };
                let prices = sqlx::query(
                    "SELECT model, prompt_per_1k, completion_per_1k FROM fund_prices WHERE programme_id = $1 ORDER BY model",
                )
                .bind(id)
                .fetch_all(&mut *conn)
                .await?
                .iter()
                .map(|r| {
                    Ok(ModelPrice {
                        model: r.try_get("model")?,
                        prompt_per_1k: to_u64("price", r.try_get("prompt_per_1k")?)?,
                        completion_per_1k: to_u64("price", r.try_get("completion_per_1k")?)?,
                    })
                })
                .collect::<Result<Vec<_>>>()?;
                Ok(Some(Programme {
                    id: row.try_get("id")?,
                    name: row.try_get("name")?,
                    eligibility: row.try_get("eligibility")?,
                    starts_at: row.try_get("starts_at")?,
                    ends_at: row.try_get("ends_at")?,
                    prices: PriceList {
                        models: prices,
                        embeddings_per_1k: to_u64("price", row.try_get("embeddings_per_1k")?)?,
                        retrieval_per_query: to_u64("price", row.try_get("retrieval_per_query")?)?,
                    },
                }))
            }

            async fn application_in(conn: &mut Conn, id: &str) -> Result<Option<Application>> {
                let Some(r) = sqlx::query(
                    "SELECT id, tenant, programme_id, body, state, amount, expires_at, reason, created_at FROM fund_applications WHERE id = $1",
                )
                .bind(id)
                .fetch_optional(&mut *conn)
                .await?
                else {
                    return Ok(None);
                };
                let state: String = r.try_get("state")?;
                let amount: Option<i64> = r.try_get("amount")?;
                Ok(Some(Application {
                    id: r.try_get("id")?,
                    tenant: r.try_get("tenant")?,
                    programme: r.try_get("programme_id")?,
                    text: r.try_get("body")?,
                    state: ApplicationState::parse(&state)?,
                    amount: amount.map(|a| to_u64("amount", a)).transpose()?,
                    expires_at: r.try_get("expires_at")?,
                    reason: r.try_get("reason")?,
                    created_at: r.try_get("created_at")?,
                }))
            }

            fn grant_row(r: &DbRow) -> Result<Grant> {
                let state: String = r.try_get("state")?;
                Ok(Grant {
                    id: r.try_get("id")?,
                    tenant: r.try_get("tenant")?,
                    programme: r.try_get("programme_id")?,
                    account: r.try_get("account_id")?,
                    amount: to_u64("amount", r.try_get("amount")?)?,
                    expires_at: r.try_get("expires_at")?,
                    state: GrantState::parse(&state)?,
                    created_at: r.try_get("created_at")?,
                })
            }
        }

        #[async_trait::async_trait]
        impl $crate::Ledger for $ledger {
            async fn create_account(&self, new: NewAccount) -> Result<Account> {
                validate_id("id", &new.id)?;
                validate_id("owner", &new.owner)?;
                let mut attempt = 0;
                loop {
                    attempt += 1;
                    match self.create_account_once(&new).await {
                        Err(e) if e.is_unique_violation() && attempt < ATTEMPTS => continue,
                        r => return r,
                    }
                }
            }

            async fn account(&self, id: &str) -> Result<Account> {
                let mut conn = self.pool.acquire().await?;
                need_account(&mut conn, id).await
            }

            async fn transfer(&self, new: NewTransfer) -> Result<Transfer> {
                validate_id("id", &new.id)?;
                validate_id("debit", &new.debit)?;
                validate_id("credit", &new.credit)?;
                if new.debit == new.credit {
                    return Err(Error::invalid("credit", "is the debit account"));
                }
                let mut attempt = 0;
                loop {
                    attempt += 1;
                    match self.transfer_once(&new).await {
                        Err(e) if e.is_unique_violation() && attempt < ATTEMPTS => continue,
                        r => return r,
                    }
                }
            }

            async fn reserve(&self, new: NewTransfer, expires_at: i64) -> Result<Transfer> {
                validate_id("id", &new.id)?;
                validate_id("debit", &new.debit)?;
                validate_id("credit", &new.credit)?;
                if new.debit == new.credit {
                    return Err(Error::invalid("credit", "is the debit account"));
                }
                let mut attempt = 0;
                loop {
                    attempt += 1;
                    match self.reserve_once(&new, expires_at).await {
                        Err(e) if e.is_unique_violation() && attempt < ATTEMPTS => continue,
                        r => return r,
                    }
                }
            }

            async fn post(&self, id: &str, pending: &str, amount: u64, reason: &str) -> Result<Transfer> {
                validate_amount(amount)?;
                Ok(self.settle(TransferKind::Post, id, pending, Some(amount), reason).await?.0)
            }

            async fn void(&self, id: &str, pending: &str, reason: &str) -> Result<Transfer> {
                Ok(self.settle(TransferKind::Void, id, pending, None, reason).await?.0)
            }

            async fn expire_due(&self, now: i64) -> Result<Vec<Transfer>> {
                let mut out = Vec::new();
                loop {
                    let due: Vec<String> = sqlx::query(
                        "SELECT p.id FROM ledger_transfers p WHERE p.kind = 'pending' AND p.expires_at <= $1 AND NOT EXISTS (SELECT 1 FROM ledger_transfers s WHERE s.pending_id = p.id) ORDER BY p.expires_at, p.id LIMIT 500",
                    )
                    .bind(now)
                    .fetch_all(&self.pool)
                    .await?
                    .iter()
                    .map(|r| r.try_get("id"))
                    .collect::<Result<_, sqlx::Error>>()?;
                    if due.is_empty() {
                        return Ok(out);
                    }
                    for pending in due {
                        let id = format!("expire:{pending}");
                        match self.settle(TransferKind::Expire, &id, &pending, None, "expired").await {
                            Ok((t, true)) => out.push(t),
                            // Settled meanwhile, here or by another replica.
                            Ok((_, false)) | Err(Error::Settled { .. }) => {}
                            Err(e) => return Err(e),
                        }
                    }
                }
            }

            async fn transfer_by_id(&self, id: &str) -> Result<Transfer> {
                let mut conn = self.pool.acquire().await?;
                find_transfer(&mut conn, id)
                    .await?
                    .ok_or_else(|| Error::not_found("transfer", id))
            }

            async fn reservation(&self, pending: &str) -> Result<Reservation> {
                let mut conn = self.pool.acquire().await?;
                let p = find_transfer(&mut conn, pending)
                    .await?
                    .filter(|t| t.kind == TransferKind::Pending)
                    .ok_or_else(|| Error::not_found("reservation", pending))?;
                let settled_by = find_settlement(&mut conn, pending).await?;
                Ok(Reservation {
                    state: settled_by
                        .as_ref()
                        .map_or(ReservationState::Pending, |s| $crate::model::settled_state(s.kind)),
                    pending: p,
                    settled_by,
                })
            }

            async fn reconcile(&self) -> Result<Reconciliation> {
                let mut tx = self.begin_read().await?;
                let accounts = sqlx::query(
                    "SELECT id, kind, owner, may_go_negative, balance, held, created_at FROM ledger_accounts ORDER BY id",
                )
                .fetch_all(&mut *tx)
                .await?
                .iter()
                .map(account_row)
                .collect::<Result<Vec<_>>>()?;
                let mut posted = std::collections::HashMap::<String, i128>::new();
                for r in sqlx::query(
                    "SELECT credit_account AS account, CAST(SUM(amount) AS BIGINT) AS total, 1 AS sign FROM ledger_transfers WHERE kind IN ('posted', 'post') GROUP BY credit_account
                     UNION ALL
                     SELECT debit_account AS account, CAST(SUM(amount) AS BIGINT) AS total, -1 AS sign FROM ledger_transfers WHERE kind IN ('posted', 'post') GROUP BY debit_account",
                )
                .fetch_all(&mut *tx)
                .await?
                {
                    let account: String = r.try_get("account")?;
                    let total: i64 = r.try_get("total")?;
                    let sign: i32 = r.try_get("sign")?;
                    *posted.entry(account).or_default() += i128::from(total) * i128::from(sign);
                }
                let mut held = std::collections::HashMap::<String, i128>::new();
                for r in sqlx::query(
                    "SELECT p.debit_account AS account, CAST(SUM(p.amount) AS BIGINT) AS total FROM ledger_transfers p WHERE p.kind = 'pending' AND NOT EXISTS (SELECT 1 FROM ledger_transfers s WHERE s.pending_id = p.id) GROUP BY p.debit_account",
                )
                .fetch_all(&mut *tx)
                .await?
                {
                    let account: String = r.try_get("account")?;
                    let total: i64 = r.try_get("total")?;
                    held.insert(account, i128::from(total));
                }
                let transfers: i64 = sqlx::query("SELECT COUNT(*) AS n FROM ledger_transfers")
                    .fetch_one(&mut *tx)
                    .await?
                    .try_get("n")?;
                tx.commit().await?;
                let mut mismatches = Vec::new();
                let (mut total, mut derived_total) = (0i128, 0i128);
                for a in &accounts {
                    let b = posted.get(&a.id).copied().unwrap_or(0);
                    let h = held.get(&a.id).copied().unwrap_or(0);
                    total += i128::from(a.balance);
                    derived_total += b;
                    let mut differs = |field, cached: i64, derived: i128| {
                        if i128::from(cached) != derived {
                            mismatches.push(Mismatch { account: a.id.clone(), field, cached: i128::from(cached), derived });
                        }
                    };
                    differs("balance", a.balance, b);
                    differs("held", a.held, h);
                    if !a.may_go_negative && (a.balance < 0 || a.available() < 0) {
                        mismatches.push(Mismatch {
                            account: a.id.clone(),
                            field: "negative",
                            cached: i128::from(a.balance) - i128::from(a.held),
                            derived: 0,
                        });
                    }
                }
                if derived_total != 0 {
                    mismatches.push(Mismatch { account: String::new(), field: "total", cached: total, derived: derived_total });
                }
                Ok(Reconciliation {
                    accounts: accounts.len() as u64,
                    transfers: to_u64("count", transfers)?,
                    total,
                    mismatches,
                })
            }
        }

        #[async_trait::async_trait]
        impl $crate::FundStore for $ledger {
            async fn put_funder(&self, funder: &Funder) -> Result<Funder> {
                validate_id("id", &funder.id)?;
                let mut tx = self.begin_write().await?;
                if let Some(r) = sqlx::query("SELECT name FROM fund_funders WHERE id = $1")
                    .bind(&funder.id)
                    .fetch_optional(&mut *tx)
                    .await?
                {
                    let name: String = r.try_get("name")?;
                    if name != funder.name {
                        return Err(Error::Conflict { id: funder.id.clone(), field: "name" });
                    }
                    return Ok(funder.clone());
                }
                sqlx::query("INSERT INTO fund_funders (id, name) VALUES ($1, $2)")
                    .bind(&funder.id)
                    .bind(&funder.name)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(funder.clone())
            }

            async fn put_programme(&self, p: &Programme) -> Result<Programme> {
                validate_id("id", &p.id)?;
                let mut tx = self.begin_write().await?;
                if let Some(old) = Self::programme_in(&mut tx, &p.id).await? {
                    let conflict = |field| Error::Conflict { id: p.id.clone(), field };
                    let mut sorted = p.prices.clone();
                    sorted.models.sort_by(|a, b| a.model.cmp(&b.model));
                    if old.name != p.name {
                        return Err(conflict("name"));
                    }
                    if old.eligibility != p.eligibility {
                        return Err(conflict("eligibility"));
                    }
                    if old.starts_at != p.starts_at {
                        return Err(conflict("starts_at"));
                    }
                    if old.ends_at != p.ends_at {
                        return Err(conflict("ends_at"));
                    }
                    if old.prices != sorted {
                        return Err(conflict("prices"));
                    }
                    return Ok(old);
                }
                let price = |v: u64| i64::try_from(v).map_err(|_| Error::invalid("prices", format!("{v} is too large")));
                sqlx::query(
                    "INSERT INTO fund_programmes (id, name, eligibility, starts_at, ends_at, embeddings_per_1k, retrieval_per_query) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                )
                .bind(&p.id)
                .bind(&p.name)
                .bind(&p.eligibility)
                .bind(p.starts_at)
                .bind(p.ends_at)
                .bind(price(p.prices.embeddings_per_1k)?)
                .bind(price(p.prices.retrieval_per_query)?)
                .execute(&mut *tx)
                .await?;
                for m in &p.prices.models {
                    sqlx::query(
                        "INSERT INTO fund_prices (programme_id, model, prompt_per_1k, completion_per_1k) VALUES ($1, $2, $3, $4)",
                    )
                    .bind(&p.id)
                    .bind(&m.model)
                    .bind(price(m.prompt_per_1k)?)
                    .bind(price(m.completion_per_1k)?)
                    .execute(&mut *tx)
                    .await?;
                }
                let stored = Self::programme_in(&mut tx, &p.id)
                    .await?
                    .ok_or_else(|| Error::not_found("programme", &p.id))?;
                tx.commit().await?;
                Ok(stored)
            }

            async fn programme(&self, id: &str) -> Result<Programme> {
                let mut conn = self.pool.acquire().await?;
                Self::programme_in(&mut conn, id)
                    .await?
                    .ok_or_else(|| Error::not_found("programme", id))
            }

            async fn put_application(&self, a: &Application) -> Result<Application> {
                validate_id("id", &a.id)?;
                let mut tx = self.begin_write().await?;
                if let Some(old) = Self::application_in(&mut tx, &a.id).await? {
                    let conflict = |field| Error::Conflict { id: a.id.clone(), field };
                    if old.tenant != a.tenant {
                        return Err(conflict("tenant"));
                    }
                    if old.programme != a.programme {
                        return Err(conflict("programme"));
                    }
                    if old.text != a.text {
                        return Err(conflict("text"));
                    }
                    return Ok(old);
                }
                sqlx::query(
                    "INSERT INTO fund_applications (id, tenant, programme_id, body, state, created_at) VALUES ($1, $2, $3, $4, 'pending', $5)",
                )
                .bind(&a.id)
                .bind(&a.tenant)
                .bind(&a.programme)
                .bind(&a.text)
                .bind(a.created_at)
                .execute(&mut *tx)
                .await?;
                let stored = Self::application_in(&mut tx, &a.id)
                    .await?
                    .ok_or_else(|| Error::not_found("application", &a.id))?;
                tx.commit().await?;
                Ok(stored)
            }

            async fn application(&self, id: &str) -> Result<Application> {
                let mut conn = self.pool.acquire().await?;
                Self::application_in(&mut conn, id)
                    .await?
                    .ok_or_else(|| Error::not_found("application", id))
            }

            async fn decide_application(&self, d: &Application) -> Result<Application> {
                let mut tx = self.begin_write().await?;
                let amount = d.amount.map(validate_amount).transpose()?;
                sqlx::query(
                    "UPDATE fund_applications SET state = $2, amount = $3, expires_at = $4, reason = $5 WHERE id = $1 AND state = 'pending'",
                )
                .bind(&d.id)
                .bind(d.state.as_str())
                .bind(amount)
                .bind(d.expires_at)
                .bind(&d.reason)
                .execute(&mut *tx)
                .await?;
                let stored = Self::application_in(&mut tx, &d.id)
                    .await?
                    .ok_or_else(|| Error::not_found("application", &d.id))?;
                tx.commit().await?;
                Ok(stored)
            }

            async fn put_grant(&self, g: &Grant) -> Result<Grant> {
                validate_id("id", &g.id)?;
                let amount = validate_amount(g.amount)?;
                let mut tx = self.begin_write().await?;
                let old = sqlx::query(
                    "SELECT id, tenant, programme_id, account_id, amount, expires_at, state, created_at FROM fund_grants WHERE id = $1",
                )
                .bind(&g.id)
                .fetch_optional(&mut *tx)
                .await?;
                if let Some(r) = old {
                    let old = Self::grant_row(&r)?;
                    let conflict = |field| Error::Conflict { id: g.id.clone(), field };
                    if old.tenant != g.tenant {
                        return Err(conflict("tenant"));
                    }
                    if old.programme != g.programme {
                        return Err(conflict("programme"));
                    }
                    if old.amount != g.amount {
                        return Err(conflict("amount"));
                    }
                    if old.expires_at != g.expires_at {
                        return Err(conflict("expires_at"));
                    }
                    return Ok(old);
                }
                sqlx::query(
                    "INSERT INTO fund_grants (id, tenant, programme_id, account_id, amount, expires_at, state, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                )
                .bind(&g.id)
                .bind(&g.tenant)
                .bind(&g.programme)
                .bind(&g.account)
                .bind(amount)
                .bind(g.expires_at)
                .bind(g.state.as_str())
                .bind(g.created_at)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(g.clone())
            }

            async fn grant(&self, id: &str) -> Result<Grant> {
                let r = sqlx::query(
                    "SELECT id, tenant, programme_id, account_id, amount, expires_at, state, created_at FROM fund_grants WHERE id = $1",
                )
                .bind(id)
                .fetch_optional(&self.pool)
                .await?
                .ok_or_else(|| Error::not_found("grant", id))?;
                Self::grant_row(&r)
            }

            async fn grants_of(&self, tenant: &str) -> Result<Vec<Grant>> {
                sqlx::query(
                    "SELECT id, tenant, programme_id, account_id, amount, expires_at, state, created_at FROM fund_grants WHERE tenant = $1 ORDER BY expires_at, id",
                )
                .bind(tenant)
                .fetch_all(&self.pool)
                .await?
                .iter()
                .map(Self::grant_row)
                .collect()
            }

            async fn grants_due(&self, now: i64) -> Result<Vec<Grant>> {
                sqlx::query(
                    "SELECT g.id, g.tenant, g.programme_id, g.account_id, g.amount, g.expires_at, g.state, g.created_at FROM fund_grants g JOIN ledger_accounts a ON a.id = g.account_id WHERE g.expires_at <= $1 AND (g.state = 'active' OR (g.state = 'expired' AND a.balance - a.held > 0)) ORDER BY g.expires_at, g.id",
                )
                .bind(now)
                .fetch_all(&self.pool)
                .await?
                .iter()
                .map(Self::grant_row)
                .collect()
            }

            async fn set_grant_state(&self, id: &str, state: GrantState) -> Result<()> {
                let done = sqlx::query("UPDATE fund_grants SET state = $2 WHERE id = $1")
                    .bind(id)
                    .bind(state.as_str())
                    .execute(&self.pool)
                    .await?
                    .rows_affected();
                if done == 0 {
                    return Err(Error::not_found("grant", id));
                }
                Ok(())
            }
        }
    };
}

pub(crate) use impl_sql_ledger;

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    fn pending() -> Transfer {
        Transfer {
            id: "r1".into(),
            kind: TransferKind::Pending,
            debit: "grant:a".into(),
            credit: "spent:p".into(),
            amount: 100,
            pending_id: None,
            expires_at: Some(5),
            reason: "charge".into(),
            created_at: 1,
        }
    }

    #[test]
    fn a_replay_names_the_first_field_that_differs() {
        let t = pending();
        let want = |amount, reason| Want {
            kind: TransferKind::Pending,
            debit: Some("grant:a"),
            credit: Some("spent:p"),
            amount: Some(amount),
            pending_id: None,
            expires_at: Some(5),
            reason,
        };
        assert!(check_replay(&t, &want(100, "charge")).is_ok());
        assert!(matches!(
            check_replay(&t, &want(101, "charge")),
            Err(Error::Conflict {
                field: "amount",
                ..
            })
        ));
        assert!(matches!(
            check_replay(&t, &want(100, "other")),
            Err(Error::Conflict {
                field: "reason",
                ..
            })
        ));
        let mut post = want(100, "charge");
        post.kind = TransferKind::Post;
        assert!(matches!(
            check_replay(&t, &post),
            Err(Error::Conflict { field: "kind", .. })
        ));
    }
}
