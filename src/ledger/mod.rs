//! The employee's ledgers: the annual discount allowance used and the quantities bought of
//! purchase-limited products per period. Catalog reads (what is left), profiles (allowance
//! left) and employee orders (giving back on cancel) all go through here.
//!
//! Charging happens inside the order placement's single statement (`orders::placement`),
//! which locks the allowance row before the products and the limit rows after them, the one
//! lock order every writer follows; a cancellation gives the same rows back in that order.

use std::collections::HashMap;

use chrono::{Datelike, NaiveDate};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use rust_decimal::Decimal;
use uuid::Uuid;

use crate::db::schema::{allowance_usage, purchase_limit_usage};
use crate::domain::calendar::BusinessZone;
use crate::domain::kinds::LimitPeriod;
use crate::domain::period;
use crate::ids::{EmployeeId, GroupId, ProductId};

/// What an employee bought of purchase-limited products since the start of a year, by
/// product and period start.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LimitUsage(Vec<(ProductId, NaiveDate, i32)>);

impl LimitUsage {
    /// Usage from (product, period start, quantity) rows.
    pub fn from_rows(rows: Vec<(ProductId, NaiveDate, i32)>) -> Self {
        Self(rows)
    }

    /// The quantity of `product` that counts against its limit in the `period` containing
    /// `today`.
    pub fn used(&self, product: ProductId, limit: LimitPeriod, today: NaiveDate) -> i32 {
        let start = period::limit_start(limit, today);
        self.0
            .iter()
            .filter(|(id, from, _)| *id == product && *from == start)
            .map(|(_, _, quantity)| *quantity)
            .sum()
    }
}

/// Everything `employee` bought of purchase-limited products in the year of `today`.
pub async fn limit_usage(
    conn: &mut AsyncPgConnection,
    employee: EmployeeId,
    today: NaiveDate,
) -> QueryResult<LimitUsage> {
    let year_start = NaiveDate::from_ymd_opt(today.year(), 1, 1).unwrap_or(today);
    purchase_limit_usage::table
        .filter(purchase_limit_usage::employee_id.eq(employee))
        .filter(purchase_limit_usage::period_start.ge(year_start))
        .select((
            purchase_limit_usage::product_id,
            purchase_limit_usage::period_start,
            purchase_limit_usage::quantity,
        ))
        .load(conn)
        .await
        .map(LimitUsage)
}

/// The quantity `employee` already bought of each of `limited` (product, period) in the
/// period containing `today`; one query, none when nothing is limited.
pub async fn used_of(
    conn: &mut AsyncPgConnection,
    employee: EmployeeId,
    limited: &[(ProductId, LimitPeriod)],
    today: NaiveDate,
) -> QueryResult<HashMap<ProductId, i32>> {
    if limited.is_empty() {
        return Ok(HashMap::new());
    }
    let usage = limit_usage(conn, employee, today).await?;
    Ok(limited
        .iter()
        .map(|(id, limit)| (*id, usage.used(*id, *limit, today)))
        .collect())
}

/// The allowance `employee` used in `year` (group currency).
pub async fn allowance_used(
    conn: &mut AsyncPgConnection,
    employee: EmployeeId,
    year: i32,
) -> QueryResult<Decimal> {
    Ok(allowance_usage::table
        .find((employee, year))
        .select(allowance_usage::used)
        .get_result(conn)
        .await
        .optional()?
        .unwrap_or(Decimal::ZERO))
}

/// Gives back an order's allowance: `amount` of `employee`'s `year`. The first row a
/// cancellation locks, as it is the first a placement locks after the key; the CHECK
/// (`used >= 0`) refuses giving back more than was charged.
pub async fn give_back_allowance(
    conn: &mut AsyncPgConnection,
    employee: EmployeeId,
    year: i32,
    amount: Decimal,
) -> QueryResult<()> {
    diesel::update(allowance_usage::table.find((employee, year)))
        .set(allowance_usage::used.eq(allowance_usage::used - amount))
        .execute(conn)
        .await?;
    Ok(())
}

/// Counts again, from the orders themselves, what each employee bought of `product` in the
/// purchase-limit `period` containing the group's day `today` (in `zone`): after its limit was
/// set or its period changed, orders placed before it had one (or under the other period)
/// count too, so the limit is never passed by what was bought before it existed. Each
/// non-cancelled line of the period is tied to the period's row (a cancellation gives it back
/// there) and each employee's row is rebuilt. Runs in the transaction that changed the
/// product, which holds the product's row: a placement that read the old limit refuses at its
/// stock update (`limit_moved`) and is read again.
pub async fn recount_limit(
    conn: &mut AsyncPgConnection,
    (group, product): (GroupId, ProductId),
    period: LimitPeriod,
    (zone, today): (BusinessZone, NaiveDate),
) -> QueryResult<()> {
    let start = period::limit_start(period, today);
    let next = period::limit_next(period, today);
    diesel::delete(
        purchase_limit_usage::table
            .filter(purchase_limit_usage::product_id.eq(product))
            .filter(purchase_limit_usage::period_start.eq(start)),
    )
    .execute(conn)
    .await?;
    crate::db::statement::statement(
        "WITH counted AS ( \
             UPDATE order_lines l SET limit_period_start = $3 \
             FROM orders o \
             WHERE o.id = l.order_id AND l.group_id = $1 AND l.product_id = $2 \
                 AND o.group_id = $1 AND o.status <> 'cancelled' \
                 AND o.created_at >= $4 AND o.created_at < $5 \
             RETURNING o.employee_id, l.quantity) \
         INSERT INTO purchase_limit_usage (employee_id, product_id, period_start, quantity, \
             group_id) \
         SELECT employee_id, $2, $3, sum(quantity)::int4, $1 FROM counted GROUP BY employee_id",
    )
    .bind::<diesel::sql_types::Uuid, _>(group)
    .bind::<diesel::sql_types::Uuid, _>(product)
    .bind::<diesel::sql_types::Date, _>(start)
    .bind::<diesel::sql_types::Timestamptz, _>(zone.start(start))
    .bind::<diesel::sql_types::Timestamptz, _>(zone.start(next))
    .execute(conn)
    .await?;
    Ok(())
}

/// Gives back an order's purchase-limit quantities: (product, period start, quantity) in
/// product order, after its products' stock (the placement's lock order). The CHECK
/// (`quantity >= 0`) refuses giving back more than was charged.
pub async fn give_back_limits(
    conn: &mut AsyncPgConnection,
    employee: EmployeeId,
    limited: &[(Uuid, NaiveDate, i32)],
) -> QueryResult<()> {
    for (product, start, quantity) in limited {
        diesel::update(purchase_limit_usage::table.find((employee, *product, *start)))
            .set(purchase_limit_usage::quantity.eq(purchase_limit_usage::quantity - *quantity))
            .execute(conn)
            .await?;
    }
    Ok(())
}
