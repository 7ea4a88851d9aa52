//! Per-instance cache of what employees read most: their own record and catalog pages.
//!
//! Freshness rules (docs/ARCHITECTURE.md, "Listing cache"):
//! - *Definitions* (products' descriptive columns and prices, companies, tiers, overrides,
//!   employees) are dropped everywhere when a transaction changing them commits: triggers send a
//!   PostgreSQL notification that every instance's listener receives, and the instance that made
//!   the change drops them before it answers.
//! - *Counters* that move with every order (stock, purchase-limit usage) are at most `ttl` old.
//!   When this instance places or cancels an order or adjusts stock, it drops exactly the pages
//!   showing those products and the buyer's usage, so its own writes show at once without
//!   emptying the cache for everyone else.
//!   Orders themselves never read the cache: stock, limits and allowance are enforced in the
//!   database.
//! - While the listener is not connected, nothing is read from or written to the cache, and a
//!   (re)connection drops everything, so a notification missed while disconnected cannot leave
//!   a stale entry behind.
//!
//! Entries carry the generations they were loaded under. A loader takes a [`Stamp`] before it
//! reads the database, so an invalidation that lands during the read makes its entry stale at
//! once; no ordering between loaders and invalidations is needed.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};

use actix_web::web::Bytes;
use diesel_async::{AsyncConnection as _, AsyncPgConnection};
use futures_util::StreamExt as _;
use uuid::Uuid;

use super::dto::ProductView;
use crate::changes::{Changed, Follower};
use crate::domain::kinds::EmploymentType;
use crate::error::ApiError;
use crate::identity::auth::CurrentUser;
use crate::ids::{EmployeeId, GroupId, ProductId};
use crate::pagination::Page;

/// The channel the migration's `notify_listing_change` trigger function notifies.
pub const CHANNEL: &str = "internal_store_listing";
/// `application_name` of the listener's connection (visible in `pg_stat_activity`).
pub const LISTENER_APPLICATION_NAME: &str = "internal-store-listener";

/// Past this age an employee is read again even without a notification (a safety net only).
const EMPLOYEE_MAX_AGE: Duration = Duration::from_secs(60);
/// Entries per map (a full map is emptied rather than scanned). A page is ~20 KiB with its
/// prepared body, so pages are bounded at ~100 MiB; employees and usage entries are small.
const MAX_PAGES: usize = 5_000;
const MAX_ENTRIES: usize = 50_000;
/// How often an idle listener checks its connection, and how long it waits for the answer.
const PING_EVERY: Duration = Duration::from_secs(5);
const PING_TIMEOUT: Duration = Duration::from_secs(2);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const RETRY_AFTER: Duration = Duration::from_millis(500);

/// The generations current when a loader started reading the database.
#[derive(Debug, Clone, Copy)]
pub struct Stamp {
    definitions: u64,
    counters: u64,
}

struct Entry<T> {
    value: Arc<T>,
    stamp: Stamp,
    loaded_at: Instant,
}

struct Map<K, T> {
    entries: RwLock<HashMap<K, Entry<T>>>,
    max: usize,
}

impl<K: Eq + Hash, T> Map<K, T> {
    fn new(max: usize) -> Self {
        Self {
            entries: RwLock::new(HashMap::new()),
            max,
        }
    }

    fn get(&self, key: &K, valid: impl Fn(&Entry<T>) -> bool) -> Option<Arc<T>> {
        let map = self.entries.read().unwrap_or_else(PoisonError::into_inner);
        map.get(key)
            .filter(|entry| valid(entry))
            .map(|entry| entry.value.clone())
    }

    fn put(&self, key: K, value: Arc<T>, stamp: Stamp) {
        let mut map = self.entries.write().unwrap_or_else(PoisonError::into_inner);
        if map.len() >= self.max {
            map.clear();
        }
        map.insert(
            key,
            Entry {
                value,
                stamp,
                loaded_at: Instant::now(),
            },
        );
    }
}

/// One page of the employee listing for everyone who sees the same prices.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PageKey {
    pub group_id: GroupId,
    pub tier_id: Option<Uuid>,
    pub employment_type: EmploymentType,
    pub category_id: Option<Uuid>,
    pub seller_company_id: Option<Uuid>,
    pub after: Option<String>,
    pub limit: i64,
}

/// A page of the listing as everyone with the same [`PageKey`] sees it (purchase limits with
/// nothing bought yet: the reader's usage is filled in per request).
pub struct CachedPage {
    pub page: Page<ProductView>,
    /// The finished response body, when no item has a purchase limit.
    pub body: Option<Bytes>,
}

impl CachedPage {
    pub fn new(page: Page<ProductView>) -> serde_json::Result<Self> {
        let personal = page.items.iter().any(|item| item.purchase_limit.is_some());
        let body = if personal {
            None
        } else {
            Some(Bytes::from(serde_json::to_vec(&page)?))
        };
        Ok(Self { page, body })
    }
}

/// Quantities an employee bought of purchase-limited products: `(product, period start, quantity)`.
pub use crate::ledger::LimitUsage;

/// The counter generation at which each product's stock or each employee's usage last changed
/// through this instance; an entry loaded under an earlier generation is stale for it.
struct Marks(RwLock<HashMap<Uuid, u64>>);

impl Marks {
    fn new() -> Self {
        Self(RwLock::new(HashMap::new()))
    }

    fn mark(&self, ids: impl IntoIterator<Item = Uuid>, generation: u64) {
        let mut map = self.0.write().unwrap_or_else(PoisonError::into_inner);
        for id in ids {
            map.insert(id, generation);
        }
    }

    /// Whether none of `ids` changed after `loaded` (the generation an entry was loaded under).
    fn unchanged_since(&self, ids: impl IntoIterator<Item = Uuid>, loaded: u64) -> bool {
        let map = self.0.read().unwrap_or_else(PoisonError::into_inner);
        ids.into_iter()
            .all(|id| map.get(&id).is_none_or(|changed| *changed <= loaded))
    }

    fn clear_if_full(&self) -> bool {
        let mut map = self.0.write().unwrap_or_else(PoisonError::into_inner);
        let full = map.len() >= MAX_ENTRIES;
        if full {
            map.clear();
        }
        full
    }
}

struct Inner {
    ttl: Duration,
    connected: AtomicBool,
    definitions: AtomicU64,
    counters: AtomicU64,
    employees: Map<EmployeeId, CurrentUser>,
    pages: Map<PageKey, CachedPage>,
    usage: Map<EmployeeId, LimitUsage>,
    stock_marks: Marks,
    usage_marks: Marks,
    /// Listing pages served from the cache, built and cached, or read around it.
    served: [AtomicU64; 3],
    /// Changes heard of (through this instance or the primary's notifications), and how many
    /// of them `floor` covers: a page may be built on a replica only once it has replayed the
    /// primary's WAL up to `floor`, which is read from the primary after the changes it covers.
    heard: AtomicU64,
    settled: AtomicU64,
    floor: AtomicU64,
}

/// How a listing page was served, for the `internal_store_listing_pages_total` metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Served {
    /// From the cache.
    Hit = 0,
    /// Built from the database and cached.
    Miss = 1,
    /// Read from the database without the cache (admin, search, or cache not in use).
    Bypass = 2,
}

impl Served {
    pub const ALL: [Self; 3] = [Self::Hit, Self::Miss, Self::Bypass];

    /// The counter slot of this outcome.
    fn index(self) -> usize {
        match self {
            Self::Hit => 0,
            Self::Miss => 1,
            Self::Bypass => 2,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::Hit => "hit",
            Self::Miss => "miss",
            Self::Bypass => "bypass",
        }
    }
}

/// Cheap to clone; every clone shares one cache.
#[derive(Clone)]
pub struct ListingCache {
    inner: Arc<Inner>,
}

impl ListingCache {
    /// A cache whose counters are at most `ttl` old; `Duration::ZERO` turns caching off.
    pub fn new(ttl: Duration) -> Self {
        Self {
            inner: Arc::new(Inner {
                ttl,
                connected: AtomicBool::new(false),
                definitions: AtomicU64::new(0),
                counters: AtomicU64::new(0),
                employees: Map::new(MAX_ENTRIES),
                pages: Map::new(MAX_PAGES),
                usage: Map::new(MAX_ENTRIES),
                stock_marks: Marks::new(),
                usage_marks: Marks::new(),
                served: Default::default(),
                heard: AtomicU64::new(0),
                settled: AtomicU64::new(0),
                floor: AtomicU64::new(0),
            }),
        }
    }

    /// The generations to load under, or `None` when the cache must not be used (turned off,
    /// or no listener connected).
    pub fn stamp(&self) -> Option<Stamp> {
        let inner = &self.inner;
        (!inner.ttl.is_zero() && inner.connected.load(Ordering::Acquire)).then(|| Stamp {
            definitions: inner.definitions.load(Ordering::Acquire),
            counters: inner.counters.load(Ordering::Acquire),
        })
    }

    fn current(&self, stamp: Stamp) -> bool {
        self.stamp()
            .is_some_and(|now| now.definitions == stamp.definitions)
    }

    pub fn employee(&self, id: EmployeeId) -> Option<Arc<CurrentUser>> {
        self.inner.employees.get(&id, |entry| {
            self.current(entry.stamp) && entry.loaded_at.elapsed() < EMPLOYEE_MAX_AGE
        })
    }

    pub fn put_employee(&self, stamp: Stamp, user: Arc<CurrentUser>) {
        self.inner.employees.put(user.id, user, stamp);
    }

    pub fn page(&self, key: &PageKey) -> Option<Arc<CachedPage>> {
        self.inner.pages.get(key, |entry| {
            self.current(entry.stamp)
                && entry.loaded_at.elapsed() < self.inner.ttl
                && self.inner.stock_marks.unchanged_since(
                    entry.value.page.items.iter().map(|item| item.id),
                    entry.stamp.counters,
                )
        })
    }

    pub fn put_page(&self, stamp: Stamp, key: PageKey, page: Arc<CachedPage>) {
        self.inner.pages.put(key, page, stamp);
    }

    pub fn usage(&self, employee: EmployeeId) -> Option<Arc<LimitUsage>> {
        self.inner.usage.get(&employee, |entry| {
            self.current(entry.stamp)
                && entry.loaded_at.elapsed() < self.inner.ttl
                && self
                    .inner
                    .usage_marks
                    .unchanged_since([employee.uuid()], entry.stamp.counters)
        })
    }

    pub fn put_usage(&self, stamp: Stamp, employee: EmployeeId, usage: Arc<LimitUsage>) {
        self.inner.usage.put(employee, usage, stamp);
    }

    /// Something employees or pages show changed (a notification, or a write made here).
    pub fn definitions_changed(&self) {
        self.inner.definitions.fetch_add(1, Ordering::AcqRel);
        self.inner.heard.fetch_add(1, Ordering::AcqRel);
    }

    /// The primary's WAL position a replica must have replayed before a page is built from it:
    /// past every change this cache has heard of. After a change not yet covered, the
    /// position is read from the primary (`primary`), which has committed the change by then.
    pub async fn read_floor(&self, primary: &crate::db::DbPool) -> Result<u64, ApiError> {
        let inner = &self.inner;
        let heard = inner.heard.load(Ordering::Acquire);
        if inner.settled.load(Ordering::Acquire) < heard {
            let mut conn = primary.get().await?;
            let written = crate::db::replicas::written(&mut conn).await?;
            inner.floor.fetch_max(written, Ordering::AcqRel);
            inner.settled.fetch_max(heard, Ordering::AcqRel);
        }
        Ok(inner.floor.load(Ordering::Acquire))
    }

    /// Stock of `products`, and the purchase-limit usage of `buyer` if given, changed through
    /// this instance: pages showing those products, and the buyer's usage, are read again.
    pub fn counters_changed(&self, products: &[ProductId], buyer: Option<EmployeeId>) {
        let inner = &self.inner;
        // Forgetting marks could revive stale entries, so full mark tables drop everything.
        if inner.stock_marks.clear_if_full() | inner.usage_marks.clear_if_full() {
            self.definitions_changed();
        }
        inner.heard.fetch_add(1, Ordering::AcqRel);
        let generation = inner.counters.fetch_add(1, Ordering::AcqRel) + 1;
        inner
            .stock_marks
            .mark(products.iter().map(|id| id.uuid()), generation);
        inner
            .usage_marks
            .mark(buyer.map(EmployeeId::uuid), generation);
    }

    pub fn count(&self, served: Served) {
        if let Some(counter) = self.inner.served.get(served.index()) {
            counter.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Listing pages served so far, by how.
    pub fn served(&self, how: Served) -> u64 {
        self.inner
            .served
            .get(how.index())
            .map_or(0, |counter| counter.load(Ordering::Relaxed))
    }

    /// `off` (turned off), `connected` (in use) or `bypassed` (listener not subscribed).
    pub fn status(&self) -> &'static str {
        if self.inner.ttl.is_zero() {
            "off"
        } else if self.is_connected() {
            "connected"
        } else {
            "bypassed"
        }
    }

    /// Whether the listener is connected and subscribed.
    pub fn is_connected(&self) -> bool {
        self.inner.connected.load(Ordering::Acquire)
    }

    /// Keeps a connection subscribed to [`CHANNEL`] for the life of the runtime, reconnecting
    /// after any failure. Does nothing when caching is off.
    pub fn spawn_listener(&self, database_url: &str) -> anyhow::Result<()> {
        if self.inner.ttl.is_zero() {
            return Ok(());
        }
        let mut url = url::Url::parse(database_url)?;
        url.query_pairs_mut()
            .append_pair("application_name", LISTENER_APPLICATION_NAME);
        let url = url.to_string();
        let cache = self.clone();
        tokio::spawn(async move {
            loop {
                let outcome = cache.listen(&url).await;
                cache.inner.connected.store(false, Ordering::Release);
                if let Err(error) = outcome {
                    tracing::warn!(%error, "listing cache listener disconnected; cache bypassed until it reconnects");
                }
                tokio::time::sleep(RETRY_AFTER).await;
            }
        });
        Ok(())
    }

    async fn listen(&self, url: &str) -> anyhow::Result<()> {
        // Scoped here: its `load` would shadow the atomics' elsewhere in this module.
        use diesel_async::RunQueryDsl as _;
        let mut conn = tokio::time::timeout(CONNECT_TIMEOUT, AsyncPgConnection::establish(url))
            .await
            .map_err(|_| anyhow::anyhow!("connecting timed out"))??;
        diesel::sql_query(format!("LISTEN {CHANNEL}"))
            .execute(&mut conn)
            .await?;
        // Anything cached before this point may have missed a notification.
        self.definitions_changed();
        self.inner.connected.store(true, Ordering::Release);
        tracing::info!("listing cache listener subscribed");
        loop {
            let next = {
                let mut stream = std::pin::pin!(conn.notifications_stream());
                tokio::time::timeout(PING_EVERY, stream.next()).await
            };
            match next {
                Ok(Some(Ok(notification))) => {
                    tracing::debug!(table = %notification.payload, "listing definitions changed");
                    self.definitions_changed();
                }
                Ok(Some(Err(error))) => return Err(error.into()),
                Ok(None) => anyhow::bail!("the listener's connection closed"),
                Err(_idle) => {
                    tokio::time::timeout(
                        PING_TIMEOUT,
                        diesel::sql_query("SELECT 1").execute(&mut conn),
                    )
                    .await
                    .map_err(|_| {
                        anyhow::anyhow!("the listener's connection stopped answering")
                    })??;
                }
            }
        }
    }
}

impl Follower for ListingCache {
    fn changed(&self, change: Changed<'_>) {
        match change {
            Changed::Definitions => self.definitions_changed(),
            Changed::Stock { products, buyer } => self.counters_changed(products, buyer),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn connected(ttl: Duration) -> ListingCache {
        let cache = ListingCache::new(ttl);
        cache.inner.connected.store(true, Ordering::Release);
        cache
    }

    fn page_of(ids: &[Uuid]) -> Arc<CachedPage> {
        let items = ids
            .iter()
            .map(|id| ProductView {
                id: *id,
                sku: id.to_string(),
                name: "n".into(),
                description: String::new(),
                category_id: Uuid::nil(),
                seller_company_id: Uuid::nil(),
                currency: "USD".into(),
                kind: super::super::dto::ProductKind::Goods,
                list_price: "1.00".into(),
                employee_price: "1.00".into(),
                discount_percent: "0".into(),
                stock_available: 1,
                purchase_limit: None,
                admin: None,
            })
            .collect();
        Arc::new(
            CachedPage::new(Page {
                items,
                next_cursor: None,
            })
            .unwrap(),
        )
    }

    fn usage(n: i32) -> Arc<LimitUsage> {
        Arc::new(LimitUsage::from_rows(vec![(
            ProductId::from(Uuid::nil()),
            chrono::NaiveDate::MIN,
            n,
        )]))
    }

    #[test]
    fn nothing_is_cached_while_disconnected_or_turned_off() {
        assert!(ListingCache::new(Duration::from_secs(1)).stamp().is_none());
        assert!(connected(Duration::ZERO).stamp().is_none());
        assert!(connected(Duration::from_secs(1)).stamp().is_some());
    }

    #[test]
    fn an_invalidation_during_a_load_makes_its_entry_stale() {
        let cache = connected(Duration::from_secs(60));
        let stamp = cache.stamp().unwrap();
        cache.definitions_changed();
        cache.put_usage(stamp, EmployeeId::from(Uuid::nil()), usage(1));
        assert!(cache.usage(EmployeeId::from(Uuid::nil())).is_none());
        let stamp = cache.stamp().unwrap();
        cache.put_usage(stamp, EmployeeId::from(Uuid::nil()), usage(2));
        assert_eq!(
            cache.usage(EmployeeId::from(Uuid::nil())).unwrap().used(
                ProductId::from(Uuid::nil()),
                crate::domain::kinds::LimitPeriod::Year,
                chrono::NaiveDate::MIN
            ),
            2
        );
    }

    #[test]
    fn counters_expire_after_the_ttl() {
        let cache = connected(Duration::from_millis(200));
        let stamp = cache.stamp().unwrap();
        cache.put_usage(stamp, EmployeeId::from(Uuid::nil()), usage(1));
        assert!(cache.usage(EmployeeId::from(Uuid::nil())).is_some());
        std::thread::sleep(Duration::from_millis(250));
        assert!(
            cache.usage(EmployeeId::from(Uuid::nil())).is_none(),
            "older than the ttl"
        );
    }

    #[test]
    fn a_local_order_drops_the_buyers_usage_only() {
        let cache = connected(Duration::from_secs(60));
        let (buyer, other) = (
            EmployeeId::from(Uuid::from_u128(1)),
            EmployeeId::from(Uuid::from_u128(2)),
        );
        let stamp = cache.stamp().unwrap();
        cache.put_usage(stamp, buyer, usage(1));
        cache.put_usage(stamp, other, usage(1));
        cache.put_employee(stamp, Arc::new(employee(buyer)));
        cache.counters_changed(&[], Some(buyer));
        assert!(
            cache.usage(buyer).is_none(),
            "the buyer's usage is read again"
        );
        assert!(cache.usage(other).is_some(), "nobody else's");
        assert!(cache.employee(buyer).is_some());
    }

    #[test]
    fn a_local_order_drops_only_the_pages_showing_its_products() {
        let cache = connected(Duration::from_secs(60));
        let (sold, other) = (Uuid::from_u128(1), Uuid::from_u128(2));
        let key = |limit| PageKey {
            group_id: GroupId::from(Uuid::nil()),
            tier_id: None,
            employment_type: crate::domain::kinds::EmploymentType::Direct,
            category_id: None,
            seller_company_id: None,
            after: None,
            limit,
        };
        let stamp = cache.stamp().unwrap();
        cache.put_page(stamp, key(1), page_of(&[sold, other]));
        cache.put_page(stamp, key(2), page_of(&[other]));
        cache.counters_changed(&[ProductId::from(sold)], None);
        assert!(cache.page(&key(1)).is_none());
        assert!(cache.page(&key(2)).is_some());
        // A page loaded after the order is good again.
        let stamp = cache.stamp().unwrap();
        cache.put_page(stamp, key(1), page_of(&[sold, other]));
        assert!(cache.page(&key(1)).is_some());
    }

    fn employee(id: EmployeeId) -> CurrentUser {
        CurrentUser {
            id,
            email: String::new(),
            full_name: String::new(),
            company_id: crate::ids::CompanyId::from(Uuid::nil()),
            group_id: GroupId::from(Uuid::nil()),
            roles: Vec::new(),
            employment_type: crate::domain::kinds::EmploymentType::Direct,
            client_type: crate::domain::kinds::ClientType::Operational,
            tier_id: None,
            tier: None,
            tier_allowance: None,
            credential_version: 1,
            zone: crate::domain::calendar::BusinessZone::default(),
            request_id: None,
        }
    }

    #[test]
    fn a_lost_listener_bypasses_every_entry() {
        let cache = connected(Duration::from_secs(60));
        let stamp = cache.stamp().unwrap();
        cache.put_usage(stamp, EmployeeId::from(Uuid::nil()), usage(1));
        cache.inner.connected.store(false, Ordering::Release);
        assert!(cache.usage(EmployeeId::from(Uuid::nil())).is_none());
    }
}
