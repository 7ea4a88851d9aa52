//! Placing an intercompany order: priced on the group's business date under the seller's
//! policies, then written with its lines by one statement (`placement.sql`) and audited, all
//! inside the transaction that holds the request's idempotency key.

use chrono::{DateTime, Utc};
use diesel::sql_types::{
    Array, Bool, Date, Integer, Nullable, Numeric, Text, Timestamptz, Uuid as SqlUuid,
};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use super::dto::IcOrderView;
use super::pricing::{self, Priced};
use super::queries::OrderRow;
use super::validation::Requested;
use super::views;
use crate::audit::Change;
use crate::db::statement::statement;
use crate::error::ApiError;
use crate::identity::auth::CurrentUser;
use crate::ids::{EmployeeId, GroupId};
use crate::write;

/// Prices `request` as of `now`, writes the order and its lines, and audits it; answers the
/// order's view. Runs inside the caller's transaction (the idempotency claim's).
pub async fn place(
    conn: &mut AsyncPgConnection,
    now: DateTime<Utc>,
    user: &CurrentUser,
    request: &Requested,
) -> Result<IcOrderView, ApiError> {
    // The order date is the group's business date.
    let today = crate::bookings::today(conn, user.group_id, now).await?;
    let priced = pricing::price(conn, user.group_id, request, today).await?;
    let row = insert(conn, user.group_id, user.id, &priced, now).await?;
    let id = row.id;
    let view = views::placed(row, &priced);
    write::by(user, user.group_id)
        .record(
            conn,
            Change::new(
                "intercompany_order.requested",
                "intercompany_order",
                id.uuid(),
            )
            .after(&view),
        )
        .await?;
    Ok(view)
}

/// Writes `priced` as a requested order of `group` made by `created_by`, with its lines, in
/// one statement.
pub async fn insert(
    conn: &mut AsyncPgConnection,
    group: GroupId,
    created_by: EmployeeId,
    priced: &Priced,
    now: DateTime<Utc>,
) -> Result<OrderRow, ApiError> {
    let lines = &priced.lines;
    let products: Vec<Uuid> = lines.iter().map(|(id, _, _)| *id).collect();
    let quantities: Vec<i32> = lines.iter().map(|(_, q, _)| *q).collect();
    let priced_lines = lines.iter().map(|(_, _, l)| l);
    let policies: Vec<Uuid> = priced_lines.clone().map(|l| l.policy_id).collect();
    let methods: Vec<&str> = priced_lines.clone().map(|l| l.method.as_str()).collect();
    let percents: Vec<_> = priced_lines.clone().map(|l| l.percent).collect();
    let mins: Vec<_> = priced_lines.clone().map(|l| l.range.min).collect();
    let maxes: Vec<_> = priced_lines.clone().map(|l| l.range.max).collect();
    let costs: Vec<_> = priced_lines.clone().map(|l| l.unit_cost).collect();
    let prices: Vec<_> = priced_lines
        .clone()
        .map(|l| l.unit_transfer_price)
        .collect();
    let totals: Vec<_> = priced_lines.clone().map(|l| l.line_total).collect();
    let markups: Vec<_> = priced_lines.clone().map(|l| l.markup_percent).collect();
    let outside: Vec<bool> = priced_lines.map(|l| l.outside_arms_length_range).collect();
    statement(include_str!("placement.sql"))
        .bind::<SqlUuid, _>(group)
        .bind::<SqlUuid, _>(priced.buyer)
        .bind::<SqlUuid, _>(priced.seller)
        .bind::<Text, _>(priced.currency.as_str())
        .bind::<Numeric, _>(priced.total)
        .bind::<Date, _>(priced.order_date)
        .bind::<SqlUuid, _>(created_by)
        .bind::<Timestamptz, _>(now)
        .bind::<Array<SqlUuid>, _>(products)
        .bind::<Array<Integer>, _>(quantities)
        .bind::<Array<SqlUuid>, _>(policies)
        .bind::<Array<Text>, _>(methods)
        .bind::<Array<Numeric>, _>(percents)
        .bind::<Array<Nullable<Numeric>>, _>(mins)
        .bind::<Array<Nullable<Numeric>>, _>(maxes)
        .bind::<Array<Numeric>, _>(costs)
        .bind::<Array<Numeric>, _>(prices)
        .bind::<Array<Numeric>, _>(totals)
        .bind::<Array<Nullable<Numeric>>, _>(markups)
        .bind::<Array<Bool>, _>(outside)
        .get_result::<OrderRow>(conn)
        .await
        .map_err(ApiError::from)
}
