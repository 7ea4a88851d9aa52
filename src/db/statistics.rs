//! Planner statistics that keep up with the data. The pooled connections use
//! `plan_cache_mode=force_generic_plan`, so a statement is planned once per connection from the
//! statistics of that moment; a table that grew from nothing (a catalog of 10 000 products
//! created through the API) kept plans made for an empty table until autovacuum analysed it —
//! a minute or more later, and 25× slower meanwhile. The keeper below checks every
//! [`CHECK_EVERY`] which tables changed *size* by more than a fifth of what the planner believes
//! they hold (and by at least [`MIN_CHANGES`] rows), and analyses them at once.
//!
//! It leaves alone what would only churn plans: updates (stock and allowance rows change on
//! every order without changing how many there are), empty tables, and a table analysed less
//! than [`MIN_INTERVAL`] ago. Every ANALYZE invalidates the plans cached on every connection, and
//! each runs in a short transaction of its own, so that no transaction holding an ID stays open
//! across several (which would hold back HOT pruning). With several instances, one analyses a
//! table at a time (an advisory lock) and checks again that it is still stale.

use std::time::Duration;

use diesel::sql_types::{BigInt, Nullable, Text};
use diesel::QueryableByName;
use diesel_async::{AsyncConnection as _, AsyncPgConnection, RunQueryDsl};

use super::DbPool;

/// How often the keeper looks.
pub const CHECK_EVERY: Duration = Duration::from_secs(2);
/// Fewer rows gained or lost than this never matter to a plan.
pub const MIN_CHANGES: i64 = 500;
/// A table is analysed at most once in this long (by the keeper or autovacuum).
pub const MIN_INTERVAL: Duration = Duration::from_secs(60);
/// The advisory lock that lets one instance analyse at a time.
const LOCK: i64 = 0x5354_4154_5321; // "STATS!"

/// The tables of the current schema (or only `$2`) whose size moved away from what the planner
/// believes, not analysed within the last `$3` seconds.
const STALE: &str = "\
    SELECT s.relname::text AS name FROM pg_stat_user_tables s \
    JOIN pg_class c ON c.oid = s.relid \
    WHERE s.schemaname = current_schema() AND ($2::text IS NULL OR s.relname = $2) \
      AND s.n_live_tup > 0 \
      AND abs(s.n_live_tup - greatest(c.reltuples, 0)) >= $1 \
      AND abs(s.n_live_tup - greatest(c.reltuples, 0)) > 0.2 * greatest(c.reltuples, 0) \
      AND coalesce(greatest(s.last_analyze, s.last_autoanalyze), '-infinity') \
          < now() - make_interval(secs => $3) \
    ORDER BY s.relname";

#[derive(QueryableByName)]
struct Stale {
    #[diesel(sql_type = Text)]
    name: String,
}

async fn stale(conn: &mut AsyncPgConnection, only: Option<&str>) -> anyhow::Result<Vec<String>> {
    let rows: Vec<Stale> = diesel::sql_query(STALE)
        .bind::<BigInt, _>(MIN_CHANGES)
        .bind::<Nullable<Text>, _>(only)
        .bind::<BigInt, _>(i64::try_from(MIN_INTERVAL.as_secs()).unwrap_or(60))
        .load(conn)
        .await?;
    Ok(rows.into_iter().map(|row| row.name).collect())
}

/// Analyses every table of the current schema whose planner statistics are stale, each in its
/// own transaction; returns the names of those it analysed (none when none was stale, or
/// another instance was at them).
pub async fn analyze_stale(conn: &mut AsyncPgConnection) -> anyhow::Result<Vec<String>> {
    let mut analysed = Vec::new();
    for name in stale(conn, None).await? {
        let done = conn
            .transaction::<_, anyhow::Error, _>(async |conn| {
                #[derive(QueryableByName)]
                struct Locked {
                    #[diesel(sql_type = diesel::sql_types::Bool)]
                    locked: bool,
                }
                let Locked { locked } =
                    diesel::sql_query("SELECT pg_try_advisory_xact_lock($1) AS locked")
                        .bind::<BigInt, _>(LOCK)
                        .get_result(conn)
                        .await?;
                // Another instance may have analysed it a moment ago.
                if !locked || stale(conn, Some(&name)).await?.is_empty() {
                    return Ok(false);
                }
                diesel::sql_query(format!("ANALYZE {}", super::quote_ident(&name)))
                    .execute(conn)
                    .await?;
                Ok(true)
            })
            .await?;
        if done {
            analysed.push(name);
        }
    }
    Ok(analysed)
}

/// Runs [`analyze_stale`] every [`CHECK_EVERY`] for the life of the process.
pub fn spawn_keeper(pool: DbPool) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(CHECK_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let Ok(mut conn) = pool.get().await else {
                continue;
            };
            match analyze_stale(&mut conn).await {
                Ok(tables) if !tables.is_empty() => {
                    tracing::info!(?tables, "planner statistics refreshed");
                }
                Ok(_) => {}
                Err(error) => tracing::warn!(%error, "planner statistics check failed"),
            }
        }
    });
}
