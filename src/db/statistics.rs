//! Planner statistics that keep up with the data. The pooled connections use
//! `plan_cache_mode=force_generic_plan`, so a statement is planned once per connection from the
//! statistics of that moment; a table that grew from nothing (a catalog of 10 000 products
//! created through the API) kept plans made for an empty table until autovacuum analysed it —
//! a minute or more later, and 25× slower meanwhile. The keeper below checks every
//! [`CHECK_EVERY`] which tables changed by more than a fifth of what the planner believes they
//! hold (and by at least [`MIN_CHANGES`] rows), and analyses them at once; ANALYZE invalidates
//! the plans cached on every connection. With several instances, one analyses at a time (an
//! advisory lock); the others skip the round.

use std::time::Duration;

use diesel::sql_types::Text;
use diesel::QueryableByName;
use diesel_async::{AsyncConnection as _, AsyncPgConnection, RunQueryDsl};

use super::DbPool;

/// How often the keeper looks.
pub const CHECK_EVERY: Duration = Duration::from_secs(2);
/// Fewer changed rows than this never matter to a plan.
pub const MIN_CHANGES: i64 = 500;
/// The advisory lock that lets one instance analyse at a time.
const LOCK: i64 = 0x5354_4154_5321; // "STATS!"

#[derive(QueryableByName)]
struct Stale {
    #[diesel(sql_type = Text)]
    name: String,
}

/// Analyses every table of the current schema whose planner statistics are stale; returns
/// their names (empty when none was, or another instance holds the lock).
pub async fn analyze_stale(conn: &mut AsyncPgConnection) -> anyhow::Result<Vec<String>> {
    conn.transaction::<_, anyhow::Error, _>(async |conn| {
        #[derive(QueryableByName)]
        struct Locked {
            #[diesel(sql_type = diesel::sql_types::Bool)]
            locked: bool,
        }
        let Locked { locked } = diesel::sql_query("SELECT pg_try_advisory_xact_lock($1) AS locked")
            .bind::<diesel::sql_types::BigInt, _>(LOCK)
            .get_result(conn)
            .await?;
        if !locked {
            return Ok(Vec::new());
        }
        let stale: Vec<Stale> = diesel::sql_query(
            "SELECT s.relname::text AS name FROM pg_stat_user_tables s \
             JOIN pg_class c ON c.oid = s.relid \
             WHERE s.schemaname = current_schema() \
               AND s.n_mod_since_analyze >= $1 \
               AND s.n_mod_since_analyze > 0.2 * greatest(c.reltuples, 0) \
             ORDER BY s.relname",
        )
        .bind::<diesel::sql_types::BigInt, _>(MIN_CHANGES)
        .load(conn)
        .await?;
        let mut analysed = Vec::with_capacity(stale.len());
        for Stale { name } in stale {
            diesel::sql_query(format!("ANALYZE {}", super::quote_ident(&name)))
                .execute(conn)
                .await?;
            analysed.push(name);
        }
        Ok(analysed)
    })
    .await
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
