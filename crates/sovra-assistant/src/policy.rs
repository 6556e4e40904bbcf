//! The published behaviour policy's history: every change of the active
//! country profile is appended to the audit trail when Sovra starts with
//! it ([`record_policy`]), and read back from there once, at start; the
//! safety pipeline keeps it for `GET /policy`.

use serde::Serialize;
use sha2::{Digest, Sha256};
use sovra_store::Store;

/// The audit action recorded when the active policy changes.
pub const POLICY_ACTION: &str = "policy.activate";

/// The digest that identifies a policy's content.
pub fn policy_digest(profile: &sovra_profile::Profile) -> String {
    let canonical = serde_json::to_vec(profile).unwrap_or_default();
    hex::encode(Sha256::digest(&canonical))
}

/// One change of the active policy, as the audit trail holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct PolicyChange {
    /// The audit entry that recorded it.
    pub audit_seq: i64,
    #[serde(with = "time::serde::rfc3339")]
    pub at: time::OffsetDateTime,
    pub version: String,
    pub country: String,
    pub sha256: String,
}

/// Every policy change in the audit trail, oldest first.
pub async fn policy_history(
    store: &dyn Store,
) -> Result<Vec<PolicyChange>, sovra_store::StoreError> {
    let mut out = Vec::new();
    let mut after = 0;
    loop {
        let page = store.audit_entries(after, 1000).await?;
        let Some(last) = page.last() else { break };
        after = last.seq;
        for e in page.iter().filter(|e| e.action == POLICY_ACTION) {
            let field = |k: &str| {
                e.details
                    .get(k)
                    .and_then(|v| v.as_str())
                    .unwrap_or_default()
                    .to_owned()
            };
            out.push(PolicyChange {
                audit_seq: e.seq,
                at: time::OffsetDateTime::from_unix_timestamp_nanos(
                    i128::from(e.at_ms) * 1_000_000,
                )
                .unwrap_or(time::OffsetDateTime::UNIX_EPOCH),
                version: field("version"),
                country: field("country"),
                sha256: field("sha256"),
            });
        }
    }
    Ok(out)
}

/// Records `profile` as the active policy in the audit trail unless it
/// already is (same digest as the last change); returns the history.
pub async fn record_policy(
    store: &dyn Store,
    profile: &sovra_profile::Profile,
    source: &str,
) -> Result<Vec<PolicyChange>, sovra_store::StoreError> {
    let mut history = policy_history(store).await?;
    let digest = policy_digest(profile);
    if history.last().map(|c| c.sha256.as_str()) != Some(digest.as_str()) {
        let previous = history.last().cloned();
        store
            .append_audit(sovra_store::NewAuditEntry {
                actor: "system:startup".into(),
                action: POLICY_ACTION.into(),
                tenant: "*".into(),
                subject: None,
                details: serde_json::json!({
                    "version": profile.version,
                    "country": profile.country.as_str(),
                    "sha256": digest,
                    "source": source,
                    "previous_version": previous.as_ref().map(|p| p.version.clone()),
                    "previous_sha256": previous.as_ref().map(|p| p.sha256.clone()),
                }),
            })
            .await?;
        history = policy_history(store).await?;
    }
    Ok(history)
}
