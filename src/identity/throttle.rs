//! Failed-login throttling per account and per client address, in fixed windows stored in
//! PostgreSQL so that every server instance sees the same counts.

use diesel::sql_types::{Array, BigInt, Double, Integer, Text};
use diesel::QueryableByName;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use crate::config::LoginThrottle;

pub fn account_key(email: &str) -> String {
    format!("account:{}", email.trim().to_lowercase())
}

pub fn address_key(address: &str) -> String {
    format!("address:{address}")
}

#[derive(QueryableByName)]
struct Blocked {
    #[diesel(sql_type = BigInt)]
    retry_after: i64,
}

/// Seconds until the caller may try again, if any key is over its limit in the current window.
pub async fn blocked_for(
    conn: &mut AsyncPgConnection,
    settings: &LoginThrottle,
    account: &str,
    address: &str,
) -> diesel::QueryResult<Option<u64>> {
    let rows: Vec<Blocked> = diesel::sql_query(
        "SELECT GREATEST(1, CEIL(EXTRACT(EPOCH FROM (window_started_at + make_interval(secs => $1) - now()))))::bigint AS retry_after \
         FROM login_throttle \
         WHERE window_started_at > now() - make_interval(secs => $1) \
           AND ((key = $2 AND failures >= $3) OR (key = $4 AND failures >= $5))",
    )
    .bind::<Double, _>(settings.window.as_secs_f64())
    .bind::<Text, _>(account)
    .bind::<Integer, _>(settings.max_failures_per_account)
    .bind::<Text, _>(address)
    .bind::<Integer, _>(settings.max_failures_per_address)
    .load(conn)
    .await?;
    Ok(rows.iter().map(|r| r.retry_after.max(1) as u64).max())
}

/// Counts one failure against each key, starting a new window where the old one has ended.
pub async fn record_failure(
    conn: &mut AsyncPgConnection,
    settings: &LoginThrottle,
    keys: &[String],
) -> diesel::QueryResult<()> {
    diesel::sql_query(
        "INSERT INTO login_throttle (key, window_started_at, failures) \
         SELECT k, now(), 1 FROM unnest($1::text[]) AS k \
         ON CONFLICT (key) DO UPDATE SET \
           failures = CASE WHEN login_throttle.window_started_at <= now() - make_interval(secs => $2) \
                           THEN 1 ELSE login_throttle.failures + 1 END, \
           window_started_at = CASE WHEN login_throttle.window_started_at <= now() - make_interval(secs => $2) \
                           THEN now() ELSE login_throttle.window_started_at END",
    )
    .bind::<Array<Text>, _>(keys)
    .bind::<Double, _>(settings.window.as_secs_f64())
    .execute(conn)
    .await
    .map(drop)
}

/// A successful login clears the account's failures (not the address's).
pub async fn clear(conn: &mut AsyncPgConnection, key: &str) -> diesel::QueryResult<()> {
    diesel::sql_query("DELETE FROM login_throttle WHERE key = $1")
        .bind::<Text, _>(key)
        .execute(conn)
        .await
        .map(drop)
}
