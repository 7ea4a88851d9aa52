//! Reading orders and moving them on: lists with their lines in two queries, the row lock
//! for a state change, cancellation (stock and ledgers given back in the placement's lock
//! order: products, allowance row, limit rows) and fulfilment.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use rust_decimal::Decimal;
use uuid::Uuid;

use super::dto::OrderStatus;
use crate::db::schema::{order_lines, orders};
use crate::domain::codes::CurrencyCode;
use crate::error::ApiError;
use crate::ids::{EmployeeId, GroupId, OrderId};
use crate::payroll::ScheduleRow;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = orders)]
pub struct OrderRow {
    pub id: OrderId,
    pub number: String,
    pub status: OrderStatus,
    pub employee_id: EmployeeId,
    pub for_member_id: Option<Uuid>,
    pub seller_company_id: Uuid,
    /// Paid from wages over this many pay dates.
    pub payroll_instalments: Option<i32>,
    pub currency: CurrencyCode,
    pub list_total: Decimal,
    pub discount_total: Decimal,
    pub total: Decimal,
    pub allowance_applied: Decimal,
    pub allowance_year: i32,
    pub group_currency: CurrencyCode,
    pub fx_rate: Decimal,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = order_lines)]
pub struct LineRow {
    pub order_id: OrderId,
    pub line_no: i32,
    pub product_id: Uuid,
    pub quantity: i32,
    pub unit_list_price: Decimal,
    pub discount_percent: Decimal,
    pub line_list_total: Decimal,
    pub line_discount: Decimal,
    pub line_total: Decimal,
    pub limit_period_start: Option<NaiveDate>,
}

/// The payroll schedules of those of `rows` paid from wages (no query when none is).
async fn schedules_of(
    conn: &mut AsyncPgConnection,
    rows: &[OrderRow],
) -> QueryResult<HashMap<OrderId, Vec<ScheduleRow>>> {
    let paid_from_wages: Vec<OrderId> = rows
        .iter()
        .filter(|r| r.payroll_instalments.is_some())
        .map(|r| r.id)
        .collect();
    crate::payroll::schedule::of_orders(conn, &paid_from_wages).await
}

/// An order as stored, with its lines and its payroll schedule's rows.
pub struct Stored {
    pub row: OrderRow,
    pub lines: Vec<LineRow>,
    pub schedule: Vec<ScheduleRow>,
}

/// Orders with their lines and schedules: two queries for any number of orders, three when
/// one is paid from wages.
pub async fn with_lines(
    conn: &mut AsyncPgConnection,
    rows: Vec<OrderRow>,
) -> QueryResult<Vec<Stored>> {
    let ids: Vec<OrderId> = rows.iter().map(|r| r.id).collect();
    let lines: Vec<LineRow> = order_lines::table
        .filter(order_lines::order_id.eq_any(&ids))
        .select(LineRow::as_select())
        .load(conn)
        .await?;
    let mut by_order: HashMap<OrderId, Vec<LineRow>> = HashMap::new();
    for line in lines {
        by_order.entry(line.order_id).or_default().push(line);
    }
    let mut schedules = schedules_of(conn, &rows).await?;
    Ok(rows
        .into_iter()
        .map(|row| Stored {
            lines: by_order.remove(&row.id).unwrap_or_default(),
            schedule: schedules.remove(&row.id).unwrap_or_default(),
            row,
        })
        .collect())
}

/// The order `id` of `group`, locked for a state change.
pub async fn find_for_update(
    conn: &mut AsyncPgConnection,
    group: GroupId,
    id: OrderId,
) -> QueryResult<Option<OrderRow>> {
    orders::table
        .find(id)
        .filter(orders::group_id.eq(group))
        .select(OrderRow::as_select())
        .for_update()
        .get_result(conn)
        .await
        .optional()
}

/// Cancels a placed order of `group` at `now` (the group's business day `today`), giving back
/// allowance, stock and purchase-limit quantity in the order placing locks them: allowance row,
/// products, purchase-limit rows, then what stands due on pay dates (its payroll schedule
/// cancelled on `today`).
pub async fn cancel(
    conn: &mut AsyncPgConnection,
    group: GroupId,
    order: &OrderRow,
    (now, today): (DateTime<Utc>, NaiveDate),
) -> Result<Stored, ApiError> {
    let mut lines = lines_of(conn, order.id).await?;
    lines.sort_by_key(|l| l.product_id);
    crate::ledger::give_back_allowance(
        conn,
        order.employee_id,
        order.allowance_year,
        order.allowance_applied,
    )
    .await?;
    let stock: Vec<(Uuid, i32)> = lines.iter().map(|l| (l.product_id, l.quantity)).collect();
    crate::inventory::give_back(conn, group, &stock).await?;
    // Read again now that the products are held: a purchase limit set meanwhile may have tied
    // these lines to its period (`ledger::recount_limit`, which holds the product while it
    // does), and the quantity goes back where it was counted.
    let mut lines = lines_of(conn, order.id).await?;
    lines.sort_by_key(|l| l.product_id);
    let limited: Vec<(Uuid, NaiveDate, i32)> = lines
        .iter()
        .filter_map(|l| Some((l.product_id, l.limit_period_start?, l.quantity)))
        .collect();
    crate::ledger::give_back_limits(conn, order.employee_id, &limited).await?;
    if order.payroll_instalments.is_some() {
        crate::payroll::schedule::cancel(conn, group, order.id, today, now).await?;
    }
    set_status(conn, order, OrderStatus::Cancelled, None, lines).await
}

/// Sets the order's status; `fulfilled_at` is the fulfilment time (only for `fulfilled`).
pub async fn set_status(
    conn: &mut AsyncPgConnection,
    order: &OrderRow,
    status: OrderStatus,
    fulfilled_at: Option<DateTime<Utc>>,
    lines: Vec<LineRow>,
) -> Result<Stored, ApiError> {
    let row: OrderRow = diesel::update(orders::table.find(order.id))
        .set((
            orders::status.eq(status),
            orders::updated_at.eq(diesel::dsl::now),
            orders::fulfilled_at.eq(fulfilled_at),
        ))
        .returning(OrderRow::as_returning())
        .get_result(conn)
        .await?;
    let mut schedules = schedules_of(conn, std::slice::from_ref(&row)).await?;
    Ok(Stored {
        schedule: schedules.remove(&row.id).unwrap_or_default(),
        row,
        lines,
    })
}

pub async fn lines_of(conn: &mut AsyncPgConnection, order: OrderId) -> QueryResult<Vec<LineRow>> {
    order_lines::table
        .filter(order_lines::order_id.eq(order))
        .select(LineRow::as_select())
        .load(conn)
        .await
}
