//! Moving an intercompany order along its lifecycle (`domain::lifecycle::IcAction`), each step
//! in one transaction: lock the order, check who acts and that the table allows the step, do
//! the step's own work (take stock on accept, book both legs on ship and on settle), set the
//! status, audit, and answer the order as it is now.

use chrono::{DateTime, NaiveDate, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncConnection as _, AsyncPgConnection, RunQueryDsl};

use super::access::{self, Party};
use super::dto::{AcceptBody, BookingBody, IcOrderView};
use super::queries::{self, OrderRow};
use super::{ledger, views};
use crate::audit::Change;
use crate::changes::Changed;
use crate::db::schema::intercompany_orders as orders;
use crate::domain::intercompany::Status;
use crate::domain::lifecycle::{IcAction, Transition as _};
use crate::domain::money;
use crate::error::ApiError;
use crate::identity::auth::CurrentUser;
use crate::ids::{GroupId, IcOrderId, ProductId};
use crate::state::AppState;
use crate::write;

/// One step with what its caller sent.
pub enum Step {
    Accept(AcceptBody),
    Reject,
    Cancel,
    Ship(BookingBody),
    Settle(BookingBody),
}

impl Step {
    fn action(&self) -> IcAction {
        match self {
            Self::Accept(_) => IcAction::Accept,
            Self::Reject => IcAction::Reject,
            Self::Cancel => IcAction::Cancel,
            Self::Ship(_) => IcAction::Ship,
            Self::Settle(_) => IcAction::Settle,
        }
    }

    fn party(&self) -> Party {
        match self {
            Self::Accept(_) | Self::Reject | Self::Ship(_) => Party::Seller,
            Self::Cancel => Party::Buyer,
            Self::Settle(_) => Party::Finance,
        }
    }

    fn audit_action(&self) -> &'static str {
        match self {
            Self::Accept(_) => "intercompany_order.accepted",
            Self::Reject => "intercompany_order.rejected",
            Self::Cancel => "intercompany_order.cancelled",
            Self::Ship(_) => "intercompany_order.shipped",
            Self::Settle(_) => "intercompany_order.settled",
        }
    }
}

/// Runs `step` on order `id` for `user` and answers the order as it is after it.
pub async fn run(
    state: &AppState,
    user: &CurrentUser,
    id: IcOrderId,
    step: Step,
) -> Result<IcOrderView, ApiError> {
    let mut conn = state.pool.get().await?;
    let step = &step;
    let view = conn
        .transaction::<_, ApiError, _>(async |conn| {
            let order = queries::lock(conn, user.group_id, id)
                .await?
                .ok_or(ApiError::NotFound)?;
            access::authorize(user, &order, step.party())?;
            let to = step.action().from(order.status)?;
            let now = state.clock.now();
            let today = crate::bookings::today(conn, user.group_id, now).await?;
            apply(conn, user.group_id, &order, step, (to, now, today)).await?;
            let view = views::one(conn, user.group_id, id).await?;
            write::by(user, user.group_id)
                .record(
                    conn,
                    Change::new(step.audit_action(), "intercompany_order", id.uuid())
                        .before(&serde_json::json!({"status": order.status}))
                        .after(&view),
                )
                .await?;
            Ok(view)
        })
        .await?;
    if let Step::Accept(_) = step {
        let products: Vec<ProductId> = view.lines.iter().map(|l| l.product_id.into()).collect();
        state.changes.publish(Changed::Stock {
            products: &products,
            buyer: None,
        });
    }
    Ok(view)
}

/// The step's own work and the new status `to`, on the locked `order`.
async fn apply(
    conn: &mut AsyncPgConnection,
    group: GroupId,
    order: &OrderRow,
    step: &Step,
    (to, now, today): (Status, DateTime<Utc>, NaiveDate),
) -> Result<(), ApiError> {
    let target = diesel::update(orders::table.find(order.id));
    let status = (orders::status.eq(to.as_str()), orders::updated_at.eq(now));
    match step {
        Step::Accept(accept) => {
            let promised = promised_date(accept, today)?;
            within_bounds(conn, group, order, today).await?;
            let lines = queries::quantities(conn, order.id).await?;
            crate::inventory::take(conn, group, &lines).await?;
            target
                .set((
                    status,
                    orders::promised_date.eq(promised),
                    orders::accepted_at.eq(Some(now)),
                ))
                .execute(conn)
                .await?;
        }
        Step::Ship(booking) => {
            let date = booking_date(today, booking.date, order.order_date)?;
            ledger::book_shipment(conn, group, order, date).await?;
            target
                .set((
                    status,
                    orders::ship_date.eq(Some(date)),
                    orders::shipped_at.eq(Some(now)),
                ))
                .execute(conn)
                .await?;
        }
        Step::Settle(booking) => {
            let shipped = order.ship_date.unwrap_or(order.order_date);
            let date = booking_date(today, booking.date, shipped)?;
            ledger::book_settlement(conn, group, order, date).await?;
            target
                .set((
                    status,
                    orders::settle_date.eq(Some(date)),
                    orders::settled_at.eq(Some(now)),
                ))
                .execute(conn)
                .await?;
        }
        Step::Reject | Step::Cancel => {
            target.set(status).execute(conn).await?;
        }
    }
    Ok(())
}

/// The seller's promised date: today to a year ahead, or none.
fn promised_date(accept: &AcceptBody, today: NaiveDate) -> Result<Option<NaiveDate>, ApiError> {
    let Some(date) = accept.promised_date else {
        return Ok(None);
    };
    if date < today {
        return Err(ApiError::invalid_field(
            "promised_date",
            "must not be in the past",
        ));
    }
    let horizon = today.checked_add_months(chrono::Months::new(12));
    if horizon.is_none_or(|h| date > h) {
        return Err(ApiError::invalid_field(
            "promised_date",
            "must be at most a year ahead",
        ));
    }
    Ok(Some(date))
}

/// A booking date: `requested` or today; never in the future, never before `earliest`.
fn booking_date(
    today: NaiveDate,
    requested: Option<NaiveDate>,
    earliest: NaiveDate,
) -> Result<NaiveDate, ApiError> {
    let date = requested.unwrap_or(today);
    if date > today {
        return Err(ApiError::invalid_field("date", "must not be in the future"));
    }
    if date < earliest {
        return Err(ApiError::invalid_field(
            "date",
            format!("must not be before {earliest}"),
        ));
    }
    Ok(date)
}

/// An order is accepted only if what shipping books stays within §2's bounds (13 integer
/// digits): the document total, and the buyer's payable at today's rate when one is known.
/// Shipping then never fails on arithmetic with the order accepted and its stock taken.
async fn within_bounds(
    conn: &mut AsyncPgConnection,
    group: GroupId,
    order: &OrderRow,
    today: NaiveDate,
) -> Result<(), ApiError> {
    let document = order.currency;
    let too_large = || {
        ApiError::unprocessable(
            "validation_failed",
            "the order's amounts at shipment would exceed 13 integer digits: split it into \
             smaller orders",
        )
    };
    if order.total > money::max_amount(document) {
        return Err(too_large());
    }
    let buyer = queries::company_currency(conn, group, order.buyer_company_id)
        .await?
        .ok_or_else(|| ApiError::internal("the buyer's currency is unknown"))?;
    if let Some(rate) = crate::fx::queries::lookup(conn, group, document, buyer, today).await? {
        let payable = crate::domain::fx::convert(order.total, rate, buyer)?;
        if payable > money::max_amount(buyer) {
            return Err(too_large());
        }
    }
    Ok(())
}
