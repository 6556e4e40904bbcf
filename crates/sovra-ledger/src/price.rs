//! Price lists and the charge plan: what a request may cost at worst, and
//! which of a tenant's grants pays for it. Pure functions, no I/O.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// A model's prices, in micro-credits per 1,000 tokens.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelPrice {
    pub model: String,
    pub prompt_per_1k: u64,
    pub completion_per_1k: u64,
}

/// A programme's prices.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct PriceList {
    pub models: Vec<ModelPrice>,
    /// Micro-credits per 1,000 embedded tokens.
    pub embeddings_per_1k: u64,
    /// Micro-credits per retrieval query.
    pub retrieval_per_query: u64,
}

/// Tokens a request used (or may use, at worst).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Usage {
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
}

/// `tokens * per_1k / 1000`, rounded up so a request never costs nothing
/// by splitting; `None` past `i64::MAX`.
fn per_1k(tokens: u64, per_1k: u64) -> Option<u64> {
    let micro = (u128::from(tokens) * u128::from(per_1k)).div_ceil(1000);
    u64::try_from(micro).ok().filter(|m| *m <= i64::MAX as u64)
}

impl PriceList {
    /// The price of `model`, or an error naming it.
    pub fn model(&self, model: &str) -> Result<&ModelPrice> {
        self.models
            .iter()
            .find(|m| m.model == model)
            .ok_or_else(|| {
                Error::invalid(
                    "model",
                    format!("the price list has no price for `{model}`"),
                )
            })
    }

    /// What `usage` of `model` costs.
    pub fn cost(&self, model: &str, usage: Usage) -> Result<u64> {
        let p = self.model(model)?;
        per_1k(usage.prompt_tokens, p.prompt_per_1k)
            .zip(per_1k(usage.completion_tokens, p.completion_per_1k))
            .and_then(|(a, b)| a.checked_add(b))
            .filter(|c| *c <= i64::MAX as u64)
            .ok_or_else(|| Error::invalid("amount", "the cost overflows"))
    }

    /// What embedding `tokens` costs.
    pub fn embeddings_cost(&self, tokens: u64) -> Result<u64> {
        per_1k(tokens, self.embeddings_per_1k)
            .ok_or_else(|| Error::invalid("amount", "the cost overflows"))
    }

    /// What `queries` retrievals cost.
    pub fn retrieval_cost(&self, queries: u64) -> Result<u64> {
        queries
            .checked_mul(self.retrieval_per_query)
            .filter(|c| *c <= i64::MAX as u64)
            .ok_or_else(|| Error::invalid("amount", "the cost overflows"))
    }

    /// Reject duplicate models (a price list is a map, written as a list).
    pub fn validate(&self) -> Result<()> {
        let mut seen = std::collections::BTreeSet::new();
        for m in &self.models {
            if m.model.is_empty() || !seen.insert(m.model.as_str()) {
                return Err(Error::invalid(
                    "prices",
                    format!("model `{}` is empty or listed twice", m.model),
                ));
            }
        }
        Ok(())
    }
}

/// One of a tenant's grants with what it has available now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GrantBalance {
    pub grant: String,
    pub account: String,
    pub programme: String,
    pub expires_at: i64,
    pub available: i64,
}

/// Which grant pays for a request and the most it may cost.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChargePlan {
    pub tenant: String,
    pub grant: String,
    pub account: String,
    pub programme: String,
    pub model: String,
    /// `prompt_tokens` plus `max_tokens` of completion at the programme's prices.
    pub worst_case: u64,
    pub expires_at: i64,
}

/// Pick the grant that pays for a request: the tenant's unexpired grants,
/// earliest expiry first (ties by id), the first whose programme prices
/// `model` and whose available balance covers the worst case. A request is
/// charged to one grant, so it can be posted or voided in one step.
pub fn plan_charge(
    tenant: &str,
    grants: &[GrantBalance],
    prices: &BTreeMap<String, PriceList>,
    model: &str,
    prompt_tokens: u64,
    max_tokens: u64,
    now: i64,
) -> Result<ChargePlan> {
    let mut order: Vec<&GrantBalance> = grants.iter().filter(|g| g.expires_at > now).collect();
    order.sort_by(|a, b| (a.expires_at, &a.grant).cmp(&(b.expires_at, &b.grant)));
    if order.is_empty() {
        return Err(Error::not_found("active grant of tenant", tenant));
    }
    let usage = Usage {
        prompt_tokens,
        completion_tokens: max_tokens,
    };
    let mut short: Option<(&GrantBalance, u64)> = None;
    let mut priced = false;
    for g in order {
        let Some(list) = prices.get(&g.programme) else {
            return Err(Error::not_found("programme", &g.programme));
        };
        let worst = match list.cost(model, usage) {
            Ok(w) => w,
            Err(Error::Invalid { field: "model", .. }) => continue,
            Err(e) => return Err(e),
        };
        priced = true;
        if g.available >= 0 && g.available.unsigned_abs() >= worst {
            return Ok(ChargePlan {
                tenant: tenant.to_owned(),
                grant: g.grant.clone(),
                account: g.account.clone(),
                programme: g.programme.clone(),
                model: model.to_owned(),
                worst_case: worst,
                expires_at: g.expires_at,
            });
        }
        if short.is_none_or(|(s, _)| g.available > s.available) {
            short = Some((g, worst));
        }
    }
    match short {
        Some((g, worst)) if priced => Err(Error::InsufficientCredits {
            account: g.account.clone(),
            available: g.available,
            requested: worst,
        }),
        _ => Err(Error::invalid(
            "model",
            format!("no price list of tenant {tenant}'s grants has a price for `{model}`"),
        )),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    fn list() -> PriceList {
        PriceList {
            models: vec![ModelPrice {
                model: "smollm2".into(),
                prompt_per_1k: 500,
                completion_per_1k: 1500,
            }],
            embeddings_per_1k: 20,
            retrieval_per_query: 7,
        }
    }

    fn grant(id: &str, programme: &str, expires_at: i64, available: i64) -> GrantBalance {
        GrantBalance {
            grant: id.into(),
            account: format!("grant:{id}"),
            programme: programme.into(),
            expires_at,
            available,
        }
    }

    #[test]
    fn cost_rounds_up_per_thousand() {
        let p = list();
        let u = |p, c| Usage {
            prompt_tokens: p,
            completion_tokens: c,
        };
        assert_eq!(p.cost("smollm2", u(1000, 1000)).unwrap(), 2000);
        assert_eq!(
            p.cost("smollm2", u(1, 0)).unwrap(),
            1,
            "half a credit rounds up"
        );
        assert_eq!(p.cost("smollm2", u(0, 1)).unwrap(), 2);
        assert_eq!(p.cost("smollm2", u(0, 0)).unwrap(), 0);
        assert_eq!(p.embeddings_cost(1500).unwrap(), 30);
        assert_eq!(p.retrieval_cost(3).unwrap(), 21);
    }

    #[test]
    fn a_missing_model_or_an_overflow_is_an_error() {
        let p = list();
        let err = p.cost("gpt-x", Usage::default()).unwrap_err();
        assert!(
            matches!(&err, Error::Invalid { field: "model", reason } if reason.contains("gpt-x")),
            "{err}"
        );
        let big = Usage {
            prompt_tokens: u64::MAX,
            completion_tokens: u64::MAX,
        };
        assert!(matches!(
            p.cost("smollm2", big),
            Err(Error::Invalid {
                field: "amount",
                ..
            })
        ));
        assert!(p.retrieval_cost(u64::MAX).is_err());
        let mut dup = list();
        dup.models.push(dup.models[0].clone());
        assert!(dup.validate().is_err());
        assert!(list().validate().is_ok());
    }

    #[test]
    fn grants_are_used_earliest_expiry_first() {
        let prices = BTreeMap::from([("p".to_owned(), list())]);
        let grants = [
            grant("late", "p", 3000, 1_000_000),
            grant("b-soon", "p", 2000, 1_000_000),
            grant("a-soon", "p", 2000, 1_000_000),
            grant("gone", "p", 500, 1_000_000),
        ];
        let plan = plan_charge("t", &grants, &prices, "smollm2", 1000, 1000, 1000).unwrap();
        assert_eq!(
            plan.grant, "a-soon",
            "earliest expiry, ties by id, expired skipped"
        );
        assert_eq!(plan.worst_case, 2000);
        assert_eq!(plan.account, "grant:a-soon");
    }

    #[test]
    fn a_grant_too_small_for_the_worst_case_is_passed_over() {
        let prices = BTreeMap::from([("p".to_owned(), list())]);
        let grants = [
            grant("small", "p", 2000, 1999),
            grant("big", "p", 3000, 2000),
        ];
        let plan = plan_charge("t", &grants, &prices, "smollm2", 1000, 1000, 0).unwrap();
        assert_eq!(plan.grant, "big");
        let err = plan_charge("t", &grants, &prices, "smollm2", 1000, 2000, 0).unwrap_err();
        assert!(
            matches!(&err, Error::InsufficientCredits { account, available: 2000, requested: 3500 } if account == "grant:big"),
            "{err}"
        );
    }

    #[test]
    fn grants_whose_programme_lacks_the_model_are_skipped() {
        let prices = BTreeMap::from([
            ("p".to_owned(), list()),
            ("bare".to_owned(), PriceList::default()),
        ]);
        let grants = [
            grant("early", "bare", 1000, 10_000),
            grant("later", "p", 2000, 10_000),
        ];
        let plan = plan_charge("t", &grants, &prices, "smollm2", 10, 10, 0).unwrap();
        assert_eq!(plan.grant, "later");
        let err = plan_charge("t", &grants[..1], &prices, "smollm2", 10, 10, 0).unwrap_err();
        assert!(
            matches!(err, Error::Invalid { field: "model", .. }),
            "{err}"
        );
        let err = plan_charge("t", &[], &prices, "smollm2", 10, 10, 0).unwrap_err();
        assert!(matches!(err, Error::NotFound { .. }), "{err}");
    }
}
