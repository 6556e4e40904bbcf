//! The background purge: applies retention rules on an interval until shut down.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::{RetentionRules, Store};

/// Purge now, then every `every`, until `shutdown` is cancelled. Failures are
/// logged and retried at the next tick; they never stop serving.
pub async fn run_purges(
    store: Arc<dyn Store>,
    rules: RetentionRules,
    every: Duration,
    shutdown: CancellationToken,
) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        match store.purge_expired(&rules).await {
            Ok(r) if r.conversations + r.audit_entries > 0 => tracing::info!(
                conversations = r.conversations,
                messages = r.messages,
                audit_entries = r.audit_entries,
                "retention purge"
            ),
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(error = %e, "retention purge failed; retrying at the next interval")
            }
        }
    }
}
