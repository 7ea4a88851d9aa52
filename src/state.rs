//! The state every handler shares: the pool, settings, the change publisher and the service
//! clock. Capability-owned state (the catalog's listing cache, identity's token keys and
//! password hasher) is registered on its own, so that sharing this does not tie capabilities
//! together.

use std::sync::Arc;

use crate::changes::Changes;
use crate::clock::Clock;
use crate::config::Settings;
use crate::db::replicas::Reads;
use crate::db::DbPool;

/// Everything a handler may need, shared by all workers.
pub struct AppState {
    pub pool: DbPool,
    /// Where listings and reports read: a usable replica, else `pool` (see `db::replicas`).
    pub reads: Reads,
    pub settings: Arc<Settings>,
    /// Where writers tell what changed (the listing cache follows).
    pub changes: Changes,
    /// Business dates ("today") come from here.
    pub clock: Clock,
}
