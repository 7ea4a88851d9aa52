//! Orders as the API shows them: amounts formatted in their currency's minor unit, the
//! allowance in the group currency, percentages without trailing zeros.

use chrono::{DateTime, NaiveDate, Utc};
use uuid::Uuid;

use super::dto::{OrderLineView, OrderStatus, OrderView, PricedView, QuoteView};
use super::pricing::{Context, Quote};
use super::queries::Stored;
use crate::domain::allowance::PricedOrder;
use crate::domain::kinds::PaymentMethod;
use crate::domain::payroll::Plan;
use crate::domain::{money, pricing};
use crate::identity::auth::CurrentUser;
use crate::ids::{EmployeeId, OrderId};
use crate::payroll::schedule as payroll;
use crate::payroll::Payment;

fn line_views(order: &PricedOrder) -> Vec<OrderLineView> {
    order
        .lines
        .iter()
        .map(|l| OrderLineView {
            product_id: l.product_id,
            quantity: i32::try_from(l.quantity).unwrap_or(i32::MAX),
            unit_list_price: l.unit_list_price.to_string(),
            discount_percent: pricing::format_percent(l.discount_percent),
            line_list_total: l.line_list_total.to_string(),
            line_discount: l.line_discount.to_string(),
            line_total: l.line_total.to_string(),
        })
        .collect()
}

/// How an order with this schedule is paid.
fn payment(instalments: Option<usize>) -> Option<Payment> {
    instalments.map(|n| Payment {
        method: PaymentMethod::Payroll,
        instalments: i64::try_from(n).unwrap_or(i64::MAX),
    })
}

/// What the order would be: its priced lines and totals, and its schedule when paid from wages.
pub fn quote_view(
    user: &CurrentUser,
    for_member: Option<Uuid>,
    quote: &Quote,
    now: DateTime<Utc>,
) -> QuoteView {
    let plan = quote.plan.as_ref();
    priced((user.id, for_member), (&quote.ctx, &quote.order, plan), now)
}

fn priced(
    (employee, for_member_id): (EmployeeId, Option<Uuid>),
    (ctx, order, plan): (&Context, &PricedOrder, Option<&Plan>),
    now: DateTime<Utc>,
) -> QuoteView {
    QuoteView {
        employee_id: employee.into(),
        for_member_id,
        created_at: now,
        priced: PricedView {
            seller_company_id: ctx.seller,
            currency: ctx.currency.to_string(),
            lines: line_views(order),
            list_total: order.list_total.to_string(),
            discount_total: order.discount_total.to_string(),
            total: order.total.to_string(),
            allowance_applied: order.allowance_applied.to_string(),
            allowance_currency: ctx.group_currency.to_string(),
            fx_rate: order.fx_rate.normalize().to_string(),
            payment: payment(plan.map(|p| p.lines.len())),
            schedule: plan
                .map(|p| payroll::placed_view(&p.lines))
                .unwrap_or_default(),
        },
    }
}

/// The view of an order being placed: its quote, placed (its number is filled in by the
/// write).
pub fn placed_view(
    id: OrderId,
    (employee, for_member_id): (EmployeeId, Option<Uuid>),
    (ctx, order, plan): (&Context, &PricedOrder, Option<&Plan>),
    now: DateTime<Utc>,
) -> OrderView {
    let quote = priced((employee, for_member_id), (ctx, order, plan), now);
    OrderView {
        id: id.uuid(),
        number: String::new(),
        status: OrderStatus::Placed,
        employee_id: quote.employee_id,
        for_member_id: quote.for_member_id,
        priced: quote.priced,
        created_at: now,
        updated_at: now,
    }
}

/// Orders as stored, with their lines and payroll schedules as they stand on `today`.
pub fn stored_views(orders: Vec<Stored>, today: NaiveDate) -> Vec<OrderView> {
    orders
        .into_iter()
        .map(|order| stored_view(order, today))
        .collect()
}

/// An order as stored, with its lines and its payroll schedule as it stands on `today`.
pub fn stored_view(order: Stored, today: NaiveDate) -> OrderView {
    let Stored {
        row,
        mut lines,
        schedule,
    } = order;
    lines.sort_by_key(|l| l.line_no);
    let (currency, group) = (row.currency, row.group_currency);
    let fmt = money::format;
    OrderView {
        id: row.id.uuid(),
        number: row.number,
        status: row.status,
        employee_id: row.employee_id.into(),
        for_member_id: row.for_member_id,
        priced: PricedView {
            seller_company_id: row.seller_company_id,
            currency: currency.to_string(),
            lines: lines
                .into_iter()
                .map(|l| OrderLineView {
                    product_id: l.product_id,
                    quantity: l.quantity,
                    unit_list_price: fmt(l.unit_list_price, currency),
                    discount_percent: pricing::format_percent(l.discount_percent),
                    line_list_total: fmt(l.line_list_total, currency),
                    line_discount: fmt(l.line_discount, currency),
                    line_total: fmt(l.line_total, currency),
                })
                .collect(),
            list_total: fmt(row.list_total, currency),
            discount_total: fmt(row.discount_total, currency),
            total: fmt(row.total, currency),
            allowance_applied: fmt(row.allowance_applied, group),
            allowance_currency: group.to_string(),
            fx_rate: row.fx_rate.normalize().to_string(),
            payment: payment(
                row.payroll_instalments
                    .and_then(|n| usize::try_from(n).ok()),
            ),
            schedule: payroll::view(&schedule, today),
        },
        created_at: row.created_at,
        updated_at: row.updated_at,
    }
}
