//! Re-reading the fleet's settings at run time (SIGHUP, and the admin API's
//! `POST /admin/backends/reload`).
//!
//! The admin API itself (`/admin/backends`...) is served by `sovra-server`
//! among its own routes, behind the identity middleware like every other
//! route; this module keeps only what both triggers share.

use std::sync::Arc;

use crate::{FleetConfig, Router};

/// Re-reads the fleet's settings (from the config file and environment).
pub type ReloadFn = Arc<dyn Fn() -> Result<FleetConfig, String> + Send + Sync>;

/// Read the settings again and swap the fleet; the error says why not.
pub fn reload(router: &Router, read: &ReloadFn) -> Result<usize, String> {
    let config = read()?;
    router.reload(config).map_err(|e| e.to_string())
}
