//! Reads on streaming replicas (`DATABASE_READ_URLS`): catalog listings and finance reports
//! read from a replica that answers and is no further behind the primary than `READ_MAX_LAG`;
//! everything else — every write, and every read that must see the caller's own writes —
//! stays on the primary, and so does any read when no replica will do.
//!
//! A watcher checks every replica once per `READ_LAG_CHECK_MS`: it reads the primary's WAL
//! position, then the replica's replay position and the age of the last transaction it
//! replayed. A replica is usable when it is in recovery and either has replayed everything the
//! primary had written a moment before, or replays transactions no older than the bound. A
//! replica that fails a read is set aside at once and the read is run again on the primary, so
//! a replica going away costs no request.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use diesel::sql_types::{BigInt, Bool, Double, Nullable};
use diesel::QueryableByName;
use diesel_async::AsyncPgConnection;

use super::{DbPool, PooledConn};
use crate::error::ApiError;

/// One replica and what the watcher last saw of it.
struct Replica {
    /// `replica-1`, `replica-2`, … in the order of `DATABASE_READ_URLS` (never the URL: it may
    /// hold a password).
    label: String,
    pool: DbPool,
    usable: AtomicBool,
    /// The WAL position (bytes) it had replayed at the last check.
    replayed: AtomicU64,
    /// Reads it served.
    served: AtomicU64,
    /// Reads that went to the primary while it was unusable or behind, or after it failed one.
    passed_over: AtomicU64,
}

struct Inner {
    primary: DbPool,
    replicas: Vec<Replica>,
    next: AtomicUsize,
    max_lag: Duration,
    /// Reads the primary served.
    primary_served: AtomicU64,
}

/// Where reads that may lag go: a usable replica, else the primary. Cheap to clone.
#[derive(Clone)]
pub struct Reads {
    inner: Arc<Inner>,
}

/// What a pool served, for `/metrics`.
pub struct PoolReads {
    pub label: String,
    /// Always true for the primary.
    pub usable: bool,
    pub served: u64,
    pub passed_over: u64,
}

/// Labels the primary's figures in metrics and logs.
pub const PRIMARY: &str = "primary";

impl Reads {
    /// Reads on `replicas` (label, pool), falling back to `primary`.
    pub fn new(primary: DbPool, replicas: Vec<(String, DbPool)>, max_lag: Duration) -> Self {
        let replicas = replicas
            .into_iter()
            .map(|(label, pool)| Replica {
                label,
                pool,
                // Unusable until the first check has seen it caught up.
                usable: AtomicBool::new(false),
                replayed: AtomicU64::new(0),
                served: AtomicU64::new(0),
                passed_over: AtomicU64::new(0),
            })
            .collect();
        Self {
            inner: Arc::new(Inner {
                primary,
                replicas,
                next: AtomicUsize::new(0),
                max_lag,
                primary_served: AtomicU64::new(0),
            }),
        }
    }

    /// Every read on the primary (no replicas configured).
    pub fn primary_only(primary: DbPool) -> Self {
        Self::new(primary, Vec::new(), Duration::ZERO)
    }

    /// The replica to read from next, usable, taken in turn.
    fn pick(&self) -> Option<&Replica> {
        let replicas = &self.inner.replicas;
        if replicas.is_empty() {
            return None;
        }
        let start = self.inner.next.fetch_add(1, Ordering::Relaxed);
        let found = (0..replicas.len())
            .filter_map(|offset| replicas.get(start.wrapping_add(offset) % replicas.len()))
            .find(|r| r.usable.load(Ordering::Acquire));
        if found.is_none() {
            for replica in replicas {
                replica.passed_over.fetch_add(1, Ordering::Relaxed);
            }
        }
        found
    }

    /// A connection for a streamed answer, with the pool its later chunks are read from: a
    /// usable replica's, else (none usable, or its checkout failing) the primary's. Unlike
    /// [`Reads::read`], a replica lost in the middle of the stream ends it.
    pub async fn checkout(&self) -> Result<(DbPool, PooledConn), ApiError> {
        if let Some(replica) = self.pick() {
            match replica.pool.get().await {
                Ok(conn) => {
                    replica.served.fetch_add(1, Ordering::Relaxed);
                    return Ok((replica.pool.clone(), conn));
                }
                Err(error) => replica.set_aside(&error.to_string()),
            }
        }
        self.inner.primary_served.fetch_add(1, Ordering::Relaxed);
        let conn = self.inner.primary.get().await?;
        Ok((self.inner.primary.clone(), conn))
    }

    /// Runs `read` on a usable replica that has replayed the primary's WAL at least to `since`
    /// (0: any usable replica), else on the primary. A replica the last check saw behind
    /// `since` is asked for its position first. A replica that fails (it went away, or its
    /// connection broke) is set aside and `read` runs again on the primary; a refusal the read
    /// itself decides (404, 422, …) is its answer wherever it ran.
    pub async fn read<T, F>(&self, since: u64, mut read: F) -> Result<T, ApiError>
    where
        F: AsyncFnMut(&mut AsyncPgConnection) -> Result<T, ApiError>,
    {
        if let Some(replica) = self.pick() {
            let outcome = match replica.pool.get().await {
                Ok(mut conn) => match replica.has_replayed(&mut conn, since).await {
                    Ok(true) => Some(read(&mut conn).await),
                    Ok(false) => None,
                    Err(error) => Some(Err(error)),
                },
                Err(error) => Some(Err(error.into())),
            };
            match outcome {
                None => {
                    replica.passed_over.fetch_add(1, Ordering::Relaxed);
                }
                Some(Err(ApiError::Unavailable(reason))) => replica.set_aside(&reason),
                Some(Err(ApiError::Internal(error))) => replica.set_aside(&error.to_string()),
                Some(answer) => {
                    replica.served.fetch_add(1, Ordering::Relaxed);
                    return answer;
                }
            }
        }
        self.inner.primary_served.fetch_add(1, Ordering::Relaxed);
        let mut conn = self.inner.primary.get().await?;
        read(&mut conn).await
    }

    /// The primary's and each replica's reads, for `/metrics`.
    pub fn figures(&self) -> Vec<PoolReads> {
        std::iter::once(PoolReads {
            label: PRIMARY.to_owned(),
            usable: true,
            served: self.inner.primary_served.load(Ordering::Relaxed),
            passed_over: 0,
        })
        .chain(self.inner.replicas.iter().map(|r| PoolReads {
            label: r.label.clone(),
            usable: r.usable.load(Ordering::Acquire),
            served: r.served.load(Ordering::Relaxed),
            passed_over: r.passed_over.load(Ordering::Relaxed),
        }))
        .collect()
    }

    /// Checks every replica every `interval`, for as long as the process runs.
    pub fn spawn_watch(&self, interval: Duration) {
        if self.inner.replicas.is_empty() {
            return;
        }
        let reads = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(interval);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                reads.check().await;
            }
        });
    }

    /// One round of checks: the primary's position first, then each replica against it.
    pub async fn check(&self) {
        let written = primary_position(&self.inner.primary).await;
        for replica in &self.inner.replicas {
            let verdict = match standby_state(&replica.pool).await {
                Ok(state) => state.verdict(written, self.inner.max_lag),
                Err(error) => Err(format!("unreachable: {error}")),
            };
            replica.record(verdict);
        }
    }
}

impl Replica {
    /// Whether the replica has replayed the WAL up to `since`: by the last check, else by
    /// asking it on `conn`.
    async fn has_replayed(
        &self,
        conn: &mut AsyncPgConnection,
        since: u64,
    ) -> Result<bool, ApiError> {
        // Scoped here: its `load` would shadow the atomics' elsewhere in this module.
        use diesel_async::RunQueryDsl as _;
        if AtomicU64::load(&self.replayed, Ordering::Acquire) >= since {
            return Ok(true);
        }
        let row: Position = diesel::sql_query(
            "SELECT coalesce((pg_last_wal_replay_lsn() - '0/0'::pg_lsn)::int8, 0) AS position",
        )
        .get_result(conn)
        .await?;
        let replayed = u64::try_from(row.position).unwrap_or(0);
        self.replayed.fetch_max(replayed, Ordering::AcqRel);
        Ok(replayed >= since)
    }

    /// Takes the replica out of rotation after a failed read; the next check may bring it back.
    fn set_aside(&self, reason: &str) {
        self.passed_over.fetch_add(1, Ordering::Relaxed);
        if self.usable.swap(false, Ordering::AcqRel) {
            tracing::warn!(replica = %self.label, %reason, "replica failed a read; reads go to the primary");
        }
    }

    fn record(&self, verdict: Result<u64, String>) {
        match verdict {
            Ok(replayed) => {
                self.replayed.store(replayed, Ordering::Release);
                if !self.usable.swap(true, Ordering::AcqRel) {
                    tracing::info!(replica = %self.label, "replica usable; reads go to it");
                }
            }
            Err(reason) => {
                if self.usable.swap(false, Ordering::AcqRel) {
                    tracing::warn!(replica = %self.label, %reason, "replica skipped; reads go to the primary");
                }
            }
        }
    }
}

#[derive(QueryableByName)]
struct Position {
    #[diesel(sql_type = BigInt)]
    position: i64,
}

/// The primary's current WAL position, or `None` when it does not answer.
async fn primary_position(primary: &DbPool) -> Option<u64> {
    let mut conn = primary.get().await.ok()?;
    written(&mut conn).await.ok()
}

/// The WAL position the primary behind `conn` has written up to: every transaction committed
/// before this call is at or before it.
pub async fn written(conn: &mut AsyncPgConnection) -> Result<u64, ApiError> {
    use diesel_async::RunQueryDsl as _;
    let row: Position =
        diesel::sql_query("SELECT (pg_current_wal_lsn() - '0/0'::pg_lsn)::int8 AS position")
            .get_result(conn)
            .await?;
    u64::try_from(row.position).map_err(|e| ApiError::internal(e.to_string()))
}

/// What a replica says of itself.
#[derive(QueryableByName)]
struct StandbyState {
    #[diesel(sql_type = Bool)]
    in_recovery: bool,
    #[diesel(sql_type = Nullable<BigInt>)]
    replayed: Option<i64>,
    /// Seconds since the commit (on the primary) of the last transaction it replayed.
    #[diesel(sql_type = Nullable<Double>)]
    replay_age: Option<f64>,
}

async fn standby_state(pool: &DbPool) -> Result<StandbyState, ApiError> {
    use diesel_async::RunQueryDsl as _;
    let mut conn = pool.get().await?;
    Ok(diesel::sql_query(
        "SELECT pg_is_in_recovery() AS in_recovery, \
                (pg_last_wal_replay_lsn() - '0/0'::pg_lsn)::int8 AS replayed, \
                extract(epoch FROM now() - pg_last_xact_replay_timestamp())::float8 AS replay_age",
    )
    .get_result(&mut conn)
    .await?)
}

impl StandbyState {
    /// Its replay position when it may serve reads, else why not. Caught up with what the
    /// primary had written just before (`written`), it is current however old its last
    /// transaction; behind, it is as stale as the last transaction it replayed.
    fn verdict(&self, written: Option<u64>, max_lag: Duration) -> Result<u64, String> {
        if !self.in_recovery {
            return Err("not a standby (promoted?)".into());
        }
        let replayed = self
            .replayed
            .and_then(|r| u64::try_from(r).ok())
            .ok_or("has replayed nothing")?;
        if written.is_some_and(|written| replayed >= written) {
            return Ok(replayed);
        }
        match self
            .replay_age
            .and_then(|age| Duration::try_from_secs_f64(age.max(0.0)).ok())
        {
            Some(age) if age <= max_lag => Ok(replayed),
            Some(age) => Err(format!(
                "{:.1} s behind (READ_MAX_LAG {} s)",
                age.as_secs_f64(),
                max_lag.as_secs()
            )),
            None => Err("lag unknown: nothing replayed since it started".into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(replayed: i64, age: Option<f64>) -> StandbyState {
        StandbyState {
            in_recovery: true,
            replayed: Some(replayed),
            replay_age: age,
        }
    }

    #[test]
    fn a_replica_is_judged_by_position_then_by_age() {
        let bound = Duration::from_secs(5);
        // Caught up: usable however long ago its last transaction was (an idle primary).
        assert_eq!(state(100, Some(3600.0)).verdict(Some(100), bound), Ok(100));
        // Behind, with recent transactions replayed: usable.
        assert_eq!(state(90, Some(2.0)).verdict(Some(100), bound), Ok(90));
        // Behind and stale (replay paused or slow): skipped.
        assert!(state(90, Some(7.5)).verdict(Some(100), bound).is_err());
        // The primary unknown: judged by age alone.
        assert_eq!(state(90, Some(1.0)).verdict(None, bound), Ok(90));
        let promoted = StandbyState {
            in_recovery: false,
            ..state(100, None)
        };
        assert!(promoted.verdict(Some(100), bound).is_err());
    }
}
