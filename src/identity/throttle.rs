//! Failed-login throttling (§3), stored in PostgreSQL so that every instance sees the same
//! counts. Three rules, none of which lets one address lock an account's owner out:
//!
//! 1. **Account and address**: after `max_failures_per_account_address` failures for one account
//!    from one address within the window, *that address* gets 429 for that account. The owner
//!    signing in from anywhere else is not affected.
//! 2. **Address**: after `max_failures_per_address` failures from one address (any accounts),
//!    that address gets 429.
//! 3. **Account pace**: once failures for one account come from `spread_addresses` different
//!    addresses within `spread_window` (guessing from many addresses), or number
//!    `max_failures_per_account_address` from more than one address (a guesser who spends an
//!    address's allowance, then moves on), the account admits one attempt per `pace`, from
//!    anyone; the others get 429 with `Retry-After`. The slot is taken before the password is
//!    checked, so the answer's timing says nothing about the password.
//!
//! The numbers are in docs/SECURITY.md.

use diesel::sql_types::{Array, BigInt, Double, Integer, Text};
use diesel::QueryableByName;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use crate::config::LoginThrottle;
use crate::db::statement::statement;

/// The throttle's view of one attempt.
pub struct Attempt {
    /// `account:<email>` (lower-cased).
    pub account: String,
    /// `account:<email>|address:<ip>`.
    pub account_address: String,
    /// `address:<ip>`.
    pub address: String,
    /// The bare client address, for the per-account spread.
    pub client: String,
}

impl Attempt {
    pub fn new(email: &str, client: &str) -> Self {
        let account = format!("account:{}", email.trim().to_lowercase());
        Self {
            account_address: format!("{account}|address:{client}"),
            address: format!("address:{client}"),
            client: client.to_owned(),
            account,
        }
    }
}

#[derive(QueryableByName)]
struct Blocked {
    #[diesel(sql_type = BigInt)]
    retry_after: i64,
}

/// Seconds until the caller may try again when rule 1 or 2 blocks this attempt.
pub async fn blocked_for(
    conn: &mut AsyncPgConnection,
    settings: &LoginThrottle,
    attempt: &Attempt,
) -> diesel::QueryResult<Option<u64>> {
    let rows: Vec<Blocked> = statement(
        "SELECT GREATEST(1, CEIL(EXTRACT(EPOCH FROM (window_started_at + make_interval(secs => $1) - now()))))::bigint AS retry_after \
         FROM login_throttle \
         WHERE window_started_at > now() - make_interval(secs => $1) \
           AND ((key = $2 AND failures >= $3) OR (key = $4 AND failures >= $5))",
    )
    .bind::<Double, _>(settings.window.as_secs_f64())
    .bind::<Text, _>(&attempt.account_address)
    .bind::<Integer, _>(settings.max_failures_per_account_address)
    .bind::<Text, _>(&attempt.address)
    .bind::<Integer, _>(settings.max_failures_per_address)
    .load(conn)
    .await?;
    Ok(rows
        .iter()
        .map(|r| u64::try_from(r.retry_after.max(1)).unwrap_or(1))
        .max())
}

#[derive(QueryableByName)]
struct Paced {
    #[diesel(sql_type = BigInt)]
    retry_after_ms: i64,
}

/// Rule 3: when the account is being guessed from many addresses, takes its next slot; `Some`
/// (seconds to wait) when the slot is not free yet.
pub async fn pace(
    conn: &mut AsyncPgConnection,
    settings: &LoginThrottle,
    attempt: &Attempt,
) -> diesel::QueryResult<Option<u64>> {
    // One statement: count the addresses, and only then (when spread) take the slot, so two
    // attempts racing for one slot cannot both get it (the loser finds no row in `taken`; the
    // row the winner inserted may be invisible to its snapshot, hence the fallback of 1 s).
    let rows: Vec<Paced> = statement(
        "WITH spread AS ( \
             SELECT count(DISTINCT address) >= $3 \
                 OR (count(*) >= $5 AND count(DISTINCT address) >= 2) AS paced \
             FROM login_failures \
             WHERE account = $1 AND failed_at > now() - make_interval(secs => $2)), \
         taken AS ( \
             INSERT INTO login_pace (account, next_attempt_at) \
             SELECT $1, clock_timestamp() + make_interval(secs => $4) FROM spread WHERE paced \
             ON CONFLICT (account) DO UPDATE SET next_attempt_at = EXCLUDED.next_attempt_at \
                 WHERE login_pace.next_attempt_at <= clock_timestamp() \
             RETURNING 1) \
         SELECT COALESCE( \
                    (SELECT CEIL(EXTRACT(EPOCH FROM (p.next_attempt_at - clock_timestamp())) * 1000)::bigint \
                     FROM login_pace p WHERE p.account = $1), \
                    1000) AS retry_after_ms \
         FROM spread WHERE spread.paced AND NOT EXISTS (SELECT 1 FROM taken)",
    )
    .bind::<Text, _>(&attempt.account)
    .bind::<Double, _>(settings.spread_window.as_secs_f64())
    .bind::<BigInt, _>(i64::from(settings.spread_addresses))
    .bind::<Double, _>(settings.pace.as_secs_f64())
    .bind::<BigInt, _>(i64::from(settings.max_failures_per_account_address))
    .load(conn)
    .await?;
    Ok(rows.into_iter().next().map(|row| {
        u64::try_from(row.retry_after_ms)
            .unwrap_or(0)
            .div_ceil(1000)
            .max(1)
    }))
}

/// Counts one failure under rules 1–3 and forgets failures older than both windows.
pub async fn record_failure(
    conn: &mut AsyncPgConnection,
    settings: &LoginThrottle,
    attempt: &Attempt,
) -> diesel::QueryResult<()> {
    let keys = vec![attempt.account_address.clone(), attempt.address.clone()];
    statement(
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
    .await?;
    statement(
        "WITH old AS (DELETE FROM login_failures WHERE failed_at < now() - make_interval(secs => $3)) \
         INSERT INTO login_failures (account, address) VALUES ($1, $2)",
    )
    .bind::<Text, _>(&attempt.account)
    .bind::<Text, _>(&attempt.client)
    .bind::<Double, _>(settings.spread_window.as_secs_f64())
    .execute(conn)
    .await
    .map(drop)
}

/// A successful login clears its account-and-address counter (not the address's, and not the
/// account's spread: a correct password from one address says nothing about the others).
pub async fn clear(conn: &mut AsyncPgConnection, attempt: &Attempt) -> diesel::QueryResult<()> {
    statement("DELETE FROM login_throttle WHERE key = $1")
        .bind::<Text, _>(&attempt.account_address)
        .execute(conn)
        .await
        .map(drop)
}
