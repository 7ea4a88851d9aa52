//! Payroll schedules as stored and shown, and the changes appended to them: cancelling an
//! order (what is still to come is cancelled, what was deducted refunded on the next pay date)
//! and the end of employment (what is still to come falls due on the final pay date). Lines
//! are never changed: the database refuses it, and a change is new lines.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, Utc};
use diesel::prelude::*;
use diesel::sql_types::Uuid as SqlUuid;
use diesel::sql_types::{Array, BigInt, Date, Integer, Nullable, Numeric, Text, Timestamptz};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::audit::{Actor, Change};
use crate::db::schema::{companies, orders, payroll_deductions};
use crate::db::statement::statement;
use crate::domain::codes::CurrencyCode;
use crate::domain::kinds::{DeductionKind, DeductionStatus, PayFrequency};
use crate::domain::money;
use crate::domain::payroll::{self, Line, NewLine, PayCalendar};
use crate::error::ApiError;
use crate::ids::{EmployeeId, GroupId, OrderId};
use crate::write;

/// A stored line of a schedule.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = payroll_deductions)]
pub struct ScheduleRow {
    pub order_id: OrderId,
    pub line_no: i32,
    pub employee_id: Uuid,
    pub company_id: Uuid,
    pub pay_date: NaiveDate,
    pub amount: Decimal,
    pub currency: CurrencyCode,
    pub kind: DeductionKind,
    pub status: DeductionStatus,
    pub replaces: Option<i32>,
}

impl ScheduleRow {
    fn line(&self) -> Line {
        Line {
            line_no: self.line_no,
            pay_date: self.pay_date,
            amount: self.amount,
            kind: self.kind,
            status: self.status,
            replaces: self.replaces,
        }
    }
}

/// A line of an order's payroll schedule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ScheduleLineView {
    pub pay_date: NaiveDate,
    /// In the order's currency; a refund is negative.
    pub amount: String,
    pub status: DeductionStatus,
    pub kind: DeductionKind,
}

/// The schedule as it stands on `today` (lines replaced by later ones left out), by pay date.
pub fn view(rows: &[ScheduleRow], today: NaiveDate) -> Vec<ScheduleLineView> {
    let lines: Vec<Line> = rows.iter().map(ScheduleRow::line).collect();
    let currency = rows.first().map(|r| r.currency);
    payroll::current(&lines)
        .iter()
        .map(|line| ScheduleLineView {
            pay_date: line.pay_date,
            amount: match currency {
                Some(code) => money::format(line.amount, code),
                None => line.amount.to_string(),
            },
            status: payroll::shown_status(line, today),
            kind: line.kind,
        })
        .collect()
}

/// The schedule of a new order: every line due.
pub fn placed_view(lines: &[(NaiveDate, money::Money)]) -> Vec<ScheduleLineView> {
    lines
        .iter()
        .map(|(pay_date, amount)| ScheduleLineView {
            pay_date: *pay_date,
            amount: amount.to_string(),
            status: DeductionStatus::Due,
            kind: DeductionKind::Instalment,
        })
        .collect()
}

/// The stored lines of `orders`, by order: one query for any number of orders.
pub async fn of_orders(
    conn: &mut AsyncPgConnection,
    orders: &[OrderId],
) -> QueryResult<HashMap<OrderId, Vec<ScheduleRow>>> {
    if orders.is_empty() {
        return Ok(HashMap::new());
    }
    let rows: Vec<ScheduleRow> = payroll_deductions::table
        .filter(payroll_deductions::order_id.eq_any(orders))
        .select(ScheduleRow::as_select())
        .order((payroll_deductions::order_id, payroll_deductions::line_no))
        .load(conn)
        .await?;
    let mut by_order: HashMap<OrderId, Vec<ScheduleRow>> = HashMap::new();
    for row in rows {
        by_order.entry(row.order_id).or_default().push(row);
    }
    Ok(by_order)
}

/// The first pay date of `company`'s calendar after `today`.
async fn next_pay_date(
    conn: &mut AsyncPgConnection,
    company: Uuid,
    today: NaiveDate,
) -> Result<NaiveDate, ApiError> {
    let (frequency, first): (Option<PayFrequency>, Option<NaiveDate>) = companies::table
        .find(company)
        .select((
            companies::payroll_frequency,
            companies::payroll_first_pay_date,
        ))
        .get_result(conn)
        .await?;
    let calendar = PayCalendar {
        frequency: frequency
            .ok_or_else(|| ApiError::internal("a payroll employer lost its calendar"))?,
        first_pay_date: first
            .ok_or_else(|| ApiError::internal("a payroll employer lost its calendar"))?,
    };
    calendar
        .next_after(today)
        .ok_or_else(|| ApiError::internal("the pay calendar has no more pay dates"))
}

/// Lines to append to one order's schedule.
struct Appended<'a> {
    rows: &'a [ScheduleRow],
    lines: Vec<NewLine>,
}

#[derive(QueryableByName)]
struct AppendCount {
    #[diesel(sql_type = BigInt)]
    lines: i64,
}

/// Appends `changes` (all of one employee) in one statement (`append.sql`).
async fn append(
    conn: &mut AsyncPgConnection,
    (group, employee): (GroupId, Uuid),
    changes: &[Appended<'_>],
    now: DateTime<Utc>,
) -> Result<(), ApiError> {
    let mut columns = Columns::default();
    for change in changes {
        let Some(first) = <[ScheduleRow]>::first(change.rows) else {
            continue;
        };
        let last_no = change.rows.iter().map(|r| r.line_no).max().unwrap_or(0);
        for (line_no, line) in (last_no.saturating_add(1)..).zip(&change.lines) {
            columns.push(first, line_no, line);
        }
    }
    let expected = columns.order.len();
    let written: AppendCount = statement(include_str!("append.sql"))
        .bind::<SqlUuid, _>(group)
        .bind::<SqlUuid, _>(employee)
        .bind::<Timestamptz, _>(now)
        .bind::<Array<SqlUuid>, _>(columns.order)
        .bind::<Array<Integer>, _>(columns.line_no)
        .bind::<Array<SqlUuid>, _>(columns.company)
        .bind::<Array<Text>, _>(columns.currency)
        .bind::<Array<Date>, _>(columns.pay_date)
        .bind::<Array<Numeric>, _>(columns.amount)
        .bind::<Array<Text>, _>(columns.kind)
        .bind::<Array<Text>, _>(columns.status)
        .bind::<Array<Nullable<Integer>>, _>(columns.replaces)
        .get_result(conn)
        .await?;
    if usize::try_from(written.lines).ok() != Some(expected) {
        return Err(ApiError::internal("payroll schedule lines not written"));
    }
    Ok(())
}

/// The bind columns of `append.sql`.
#[derive(Default)]
struct Columns {
    order: Vec<OrderId>,
    line_no: Vec<i32>,
    company: Vec<Uuid>,
    currency: Vec<&'static str>,
    pay_date: Vec<NaiveDate>,
    amount: Vec<Decimal>,
    kind: Vec<&'static str>,
    status: Vec<&'static str>,
    replaces: Vec<Option<i32>>,
}

impl Columns {
    fn push(&mut self, of: &ScheduleRow, line_no: i32, line: &NewLine) {
        self.order.push(of.order_id);
        self.line_no.push(line_no);
        self.company.push(of.company_id);
        self.currency.push(of.currency.as_str());
        self.pay_date.push(line.pay_date);
        self.amount.push(line.amount);
        self.kind.push(line.kind.as_str());
        self.status.push(line.status.as_str());
        self.replaces.push(line.replaces);
    }
}

/// Cancels the schedule of an order being cancelled (its row locked by the caller) on
/// `today`: lines to come are cancelled, what was deducted is refunded on the next pay date.
/// Nothing for an order not paid from wages.
pub async fn cancel(
    conn: &mut AsyncPgConnection,
    group: GroupId,
    order: OrderId,
    today: NaiveDate,
    now: DateTime<Utc>,
) -> Result<(), ApiError> {
    let mut by_order = of_orders(conn, &[order]).await?;
    let rows = by_order.remove(&order).unwrap_or_default();
    let Some(first) = <[ScheduleRow]>::first(&rows) else {
        return Ok(());
    };
    let next = next_pay_date(conn, first.company_id, today).await?;
    let lines: Vec<Line> = rows.iter().map(ScheduleRow::line).collect();
    let appended = payroll::cancel(&lines, today, next).map_err(ApiError::from)?;
    let change = Appended {
        rows: &rows,
        lines: appended,
    };
    append(conn, (group, first.employee_id), &[change], now).await
}

/// Employment of `employee` ends on `today`: on each of their orders paid from wages, what is
/// still to come falls due in one line on the next pay date (the final pay), audited per order.
/// Called in the transaction that deactivates them.
pub async fn accelerate<A: Actor + Sync + ?Sized>(
    conn: &mut AsyncPgConnection,
    (group, employee): (GroupId, Uuid),
    actor: Option<&A>,
    today: NaiveDate,
    now: DateTime<Utc>,
) -> Result<(), ApiError> {
    // The orders with lines to come, locked in id order before anything is appended, as a
    // cancellation locks its order first.
    let ids: Vec<OrderId> = orders::table
        .filter(orders::group_id.eq(group))
        .filter(orders::employee_id.eq(employee))
        .filter(diesel::dsl::exists(
            payroll_deductions::table
                .filter(payroll_deductions::order_id.eq(orders::id))
                .filter(payroll_deductions::pay_date.gt(today)),
        ))
        .select(orders::id)
        .order(orders::id)
        .for_update()
        .load(conn)
        .await?;
    let by_order = of_orders(conn, &ids).await?;
    let mut nexts: HashMap<Uuid, NaiveDate> = HashMap::new();
    let mut changes = Vec::new();
    for id in &ids {
        let Some(rows) = by_order.get(id) else {
            continue;
        };
        let Some(first) = <[ScheduleRow]>::first(rows) else {
            continue;
        };
        let next = match nexts.get(&first.company_id) {
            Some(next) => *next,
            None => {
                let next = next_pay_date(conn, first.company_id, today).await?;
                nexts.insert(first.company_id, next);
                next
            }
        };
        let lines: Vec<Line> = rows.iter().map(ScheduleRow::line).collect();
        let appended = payroll::accelerate(&lines, today, next).map_err(ApiError::from)?;
        if !appended.is_empty() {
            changes.push(Appended {
                rows,
                lines: appended,
            });
        }
    }
    if changes.is_empty() {
        return Ok(());
    }
    append(conn, (group, employee), &changes, now).await?;
    let after = of_orders(conn, &ids).await?;
    for change in &changes {
        let Some(order) = change.rows.first().map(|r| r.order_id) else {
            continue;
        };
        let schedule = after
            .get(&order)
            .map(|rows| view(rows, today))
            .unwrap_or_default();
        write::by_actor(actor, group)
            .record(
                conn,
                Change::new("order.schedule_accelerated", "order", order.uuid())
                    .before(&serde_json::json!({"schedule": view(change.rows, today)}))
                    .after(&serde_json::json!({"schedule": schedule})),
            )
            .await?;
    }
    Ok(())
}

/// Refuses `plan` when, with what already stands due for `employee`, a pay date would pass
/// the share of pay (a quote's check; placing checks it again where it cannot be raced).
pub async fn check_share(
    conn: &mut AsyncPgConnection,
    employee: EmployeeId,
    plan: &payroll::Plan,
) -> Result<(), ApiError> {
    use crate::db::schema::payroll_due;
    let dates: Vec<NaiveDate> = plan.lines.iter().map(|(day, _)| *day).collect();
    let due: HashMap<NaiveDate, Decimal> = payroll_due::table
        .filter(payroll_due::employee_id.eq(employee))
        .filter(payroll_due::pay_date.eq_any(&dates))
        .select((payroll_due::pay_date, payroll_due::amount))
        .load::<(NaiveDate, Decimal)>(conn)
        .await?
        .into_iter()
        .collect();
    for (day, amount) in &plan.lines {
        let standing = due.get(day).copied().unwrap_or_default();
        if money::add(standing, amount.amount())? > plan.limit.amount() {
            return Err(crate::payroll::terms::share_exceeded(*day, plan.limit));
        }
    }
    Ok(())
}
