//! What every booking date must satisfy (§6): ship, settle, adjustments, true-ups, netting and
//! FX rates are dated not after today and not before 1 January of the year before the group
//! was created; "today" is the group's, in its time zone. (That the month is open is the
//! database's rule, for every writer: migration 000012.)

use chrono::{Datelike, NaiveDate};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use crate::db::schema::companies;
use crate::domain::calendar::BusinessDay;
use crate::error::ApiError;
use crate::ids::GroupId;

/// The group's business day at `now`: its date in the root company's time zone, and the zone.
pub async fn day(
    conn: &mut AsyncPgConnection,
    group: GroupId,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<BusinessDay, ApiError> {
    Ok(crate::identity::queries::group_zone(conn, group)
        .await?
        .day(now))
}

/// The group's business date at `now` (in its root company's time zone).
pub async fn today(
    conn: &mut AsyncPgConnection,
    group: GroupId,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<NaiveDate, ApiError> {
    Ok(day(conn, group, now).await?.today)
}

/// The earliest day a booking of `group` may carry.
pub async fn earliest(conn: &mut AsyncPgConnection, group: GroupId) -> Result<NaiveDate, ApiError> {
    let created: chrono::DateTime<chrono::Utc> = companies::table
        .find(group)
        .select(companies::created_at)
        .first(conn)
        .await?;
    let zone = crate::identity::queries::group_zone(conn, group).await?;
    let year = zone.today(created).year().saturating_sub(1);
    NaiveDate::from_ymd_opt(year, 1, 1).ok_or_else(|| ApiError::internal("no such year"))
}

/// Checks `date` (the request's `field`) as a booking date of `group` on `today`.
pub async fn check(
    conn: &mut AsyncPgConnection,
    group: GroupId,
    field: &str,
    date: NaiveDate,
    today: NaiveDate,
) -> Result<(), ApiError> {
    if date > today {
        return Err(ApiError::invalid_field(field, "must not be in the future"));
    }
    let earliest = earliest(conn, group).await?;
    if date < earliest {
        return Err(ApiError::invalid_field(
            field,
            format!("must not be before {earliest}"),
        ));
    }
    Ok(())
}

/// Takes the group's books lock in shared mode for a write dated `day` and refuses it (409
/// `period_closed`) when that month, or a later one, is closed: what the database's triggers do
/// for ledger entries, for writes that other tables date by timestamp.
pub async fn open_on(
    conn: &mut AsyncPgConnection,
    group: GroupId,
    day: NaiveDate,
) -> Result<(), ApiError> {
    crate::db::statement::statement("SELECT books_open_on($1, $2)")
        .bind::<diesel::sql_types::Uuid, _>(group)
        .bind::<diesel::sql_types::Date, _>(day)
        .execute(conn)
        .await?;
    Ok(())
}
