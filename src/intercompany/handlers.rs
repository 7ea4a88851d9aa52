//! Intercompany order endpoints: quote and idempotent creation by the buyer's purchaser, the
//! seller's accept / reject / ship, finance's settle, the buyer's cancel. Who may do what is
//! decided once, by [`authorize`].

use actix_web::{get, post, web, HttpResponse};
use chrono::{DateTime, NaiveDate, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncConnection as _, AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use super::dto::*;
use super::ledger;
use super::queries::{self, OrderRow};
use crate::audit::{self, Change};
use crate::body::{Body, OptionalBody};
use crate::changes::Changed;
use crate::db::schema::intercompany_orders as orders;
use crate::domain::intercompany::Transition;
use crate::domain::{money, period};
use crate::error::ApiError;
use crate::idempotency::{self, IdempotencyHeader};
use crate::identity::auth::{Authorized, CurrentUser, Purchaser, Role, Trade};
use crate::pagination::{Page, PageRequest};
use crate::state::AppState;

const CREATE_SCOPE: &str = "POST /intercompany-orders";

/// Whether `user` sees `order` at all: finance and admins of the group, purchasers of either
/// party. Everyone else gets 404 for it.
fn sees(user: &CurrentUser, order: &OrderRow) -> bool {
    user.has(Role::Admin)
        || user.has(Role::Finance)
        || (user.has(Role::Purchaser)
            && (user.company_id == order.buyer_company_id
                || user.company_id == order.seller_company_id))
}

/// Who acts on an order.
#[derive(Clone, Copy)]
enum Actor {
    /// The seller's purchasers, or an admin.
    Seller,
    /// The buyer's purchasers, or an admin.
    Buyer,
    /// Finance.
    Finance,
}

/// 404 when `user` does not see the order; 403 when they see it but may not act as `actor`.
fn authorize(user: &CurrentUser, order: &OrderRow, actor: Actor) -> Result<(), ApiError> {
    if !sees(user, order) {
        return Err(ApiError::NotFound);
    }
    let purchaser_of = |company: Uuid| user.has(Role::Purchaser) && user.company_id == company;
    let allowed = match actor {
        Actor::Seller => user.has(Role::Admin) || purchaser_of(order.seller_company_id),
        Actor::Buyer => user.has(Role::Admin) || purchaser_of(order.buyer_company_id),
        Actor::Finance => user.has(Role::Finance),
    };
    if allowed {
        Ok(())
    } else {
        Err(ApiError::Forbidden)
    }
}

/// Only a purchaser of the buyer orders for it.
fn check_buyer(user: &CurrentUser, request: &NewIcOrder) -> Result<(), ApiError> {
    if user.company_id == request.buyer_company_id {
        Ok(())
    } else {
        Err(ApiError::Rule {
            status: actix_web::http::StatusCode::FORBIDDEN,
            code: "forbidden",
            detail: "buyer_company_id: purchasers order for their own company only".into(),
        })
    }
}

/// Price an intercompany order without placing it (a purchaser of the buyer).
#[utoipa::path(
    operation_id = "quote_intercompany_order",
    tag = "intercompany",
    request_body = NewIcOrder,
    security(("bearer" = ["purchaser"])),
    responses(
        (status = 200, body = IcQuoteView),
        (status = 403, description = "Not a purchaser of the buyer"),
        (
            status = 422,
            description = "Invalid lines, not_intercompany, not_eligible, \
                no_transfer_pricing_policy"
        )
    )
)]
#[post("/intercompany-orders/quote")]
#[tracing::instrument(skip_all)]
pub async fn quote_order(
    user: Authorized<Purchaser>,
    state: web::Data<AppState>,
    body: Body<NewIcOrder>,
) -> Result<web::Json<IcQuoteView>, ApiError> {
    let body = body.into_inner()?;
    check_buyer(&user, &body)?;
    let request = queries::validate(&body)?;
    let mut conn = state.pool.get().await?;
    let today = crate::bookings::today(&mut conn, user.group_id, state.clock.now()).await?;
    let priced = queries::price(&mut conn, user.group_id, &request, today).await?;
    Ok(web::Json(queries::quote_view(&priced)))
}

/// Prices, inserts and audits the order (inside the key's transaction, `idempotency::once`),
/// answering its view.
async fn create(
    conn: &mut AsyncPgConnection,
    now: DateTime<Utc>,
    user: &CurrentUser,
    request: &queries::Requested,
) -> Result<serde_json::Value, ApiError> {
    // The order date is the group's business date.
    let today = crate::bookings::today(conn, user.group_id, now).await?;
    let priced = queries::price(conn, user.group_id, request, today).await?;
    let row = queries::insert(conn, user.group_id, user.id, &priced, now).await?;
    let id = row.id;
    let view = queries::views(conn, vec![row])
        .await?
        .pop()
        .ok_or(ApiError::NotFound)?;
    audit::record(
        conn,
        user.group_id,
        Some(user),
        Change::new("intercompany_order.requested", "intercompany_order", id).after(&view),
    )
    .await?;
    crate::json::to_value(&view)
}

/// Place an intercompany order (a purchaser of the buyer). Requires `Idempotency-Key`: the
/// same key and body replay the first response (`Idempotency-Replay: true`); another body →
/// 422; while the first runs → 409.
#[utoipa::path(
    tag = "intercompany",
    request_body = NewIcOrder,
    params(crate::idempotency::RequiredKeyParam),
    security(("bearer" = ["purchaser"])),
    responses(
        (status = 201, body = IcOrderView),
        (status = 403, description = "Not a purchaser of the buyer"),
        (status = 409, description = "request_in_progress"),
        (
            status = 422,
            description = "Invalid lines, not_intercompany, not_eligible, \
                no_transfer_pricing_policy, idempotency_key_reused"
        )
    )
)]
#[post("/intercompany-orders")]
#[tracing::instrument(skip_all)]
pub async fn create_order(
    user: Authorized<Purchaser>,
    state: web::Data<AppState>,
    key: IdempotencyHeader,
    body: Body<NewIcOrder>,
) -> Result<HttpResponse, ApiError> {
    let key = key.into_key()?;
    let body = body.into_inner()?;
    check_buyer(&user, &body)?;
    let request = queries::validate(&body)?;
    let hash = idempotency::request_hash(&body);
    let now = state.clock.now();
    let user = &user.user;
    let mut conn = state.pool.get().await?;
    idempotency::once(
        &mut conn,
        user.id,
        Some(key),
        (CREATE_SCOPE, hash),
        async move |conn| {
            let view = create(conn, now, user, &request).await?;
            Ok((actix_web::http::StatusCode::CREATED, view))
        },
    )
    .await
}

/// List intercompany orders, newest first: purchasers those of their company (as buyer or
/// seller), finance and admins the group's; with filters.
#[utoipa::path(
    operation_id = "list_intercompany_orders",
    tag = "intercompany",
    params(IcOrderQuery),
    security(("bearer" = ["purchaser", "finance", "admin"])),
    responses((status = 200, body = Page<IcOrderView>))
)]
#[get("/intercompany-orders")]
#[tracing::instrument(skip_all)]
pub async fn list_orders(
    user: Authorized<Trade>,
    state: web::Data<AppState>,
    query: crate::json::Query<IcOrderQuery>,
) -> Result<web::Json<Page<IcOrderView>>, ApiError> {
    let page =
        PageRequest::<(chrono::DateTime<Utc>, Uuid)>::parse(query.limit, query.cursor.as_deref())?;
    let mut sql = orders::table
        .filter(orders::group_id.eq(user.group_id))
        .select(OrderRow::as_select())
        .order((orders::created_at.desc(), orders::id.desc()))
        .limit(page.fetch())
        .into_boxed();
    if !user.has(Role::Admin) && !user.has(Role::Finance) {
        sql = sql.filter(
            orders::buyer_company_id
                .eq(user.company_id)
                .or(orders::seller_company_id.eq(user.company_id)),
        );
    }
    if let Some(status) = query.status {
        sql = sql.filter(orders::status.eq(status.as_str()));
    }
    if let Some(buyer) = query.buyer_company_id {
        sql = sql.filter(orders::buyer_company_id.eq(buyer));
    }
    if let Some(seller) = query.seller_company_id {
        sql = sql.filter(orders::seller_company_id.eq(seller));
    }
    if let Some(raw) = &query.period {
        let (from, to) =
            period::month(raw).ok_or_else(|| ApiError::bad_field("period", "must be YYYY-MM"))?;
        let start = |day: NaiveDate| day.and_hms_opt(0, 0, 0).map(|t| t.and_utc());
        if let (Some(from), Some(to)) = (start(from), start(to)) {
            sql = sql
                .filter(orders::created_at.ge(from))
                .filter(orders::created_at.lt(to));
        }
    }
    if let Some((at, id)) = page.after {
        sql = sql.filter(
            orders::created_at
                .lt(at)
                .or(orders::created_at.eq(at).and(orders::id.lt(id))),
        );
    }
    let mut conn = state.pool.get().await?;
    let rows = sql.load(&mut conn).await?;
    let views = queries::views(&mut conn, rows).await?;
    Ok(web::Json(Page::from_rows(
        views,
        page.limit,
        |o: &IcOrderView| (o.created_at, o.id),
    )))
}

/// One intercompany order with its lines and ledger entries.
#[utoipa::path(
    operation_id = "get_intercompany_order",
    tag = "intercompany",
    params(("id" = Uuid, Path)),
    security(("bearer" = ["purchaser", "finance", "admin"])),
    responses((status = 200, body = IcOrderView))
)]
#[get("/intercompany-orders/{id}")]
#[tracing::instrument(skip_all)]
pub async fn get_order(
    user: Authorized<Trade>,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
) -> Result<web::Json<IcOrderView>, ApiError> {
    let mut conn = state.pool.get().await?;
    let row = queries::find(&mut conn, user.group_id, *id)
        .await?
        .filter(|row| sees(&user, row))
        .ok_or(ApiError::NotFound)?;
    let mut views = queries::views(&mut conn, vec![row]).await?;
    views.pop().map(web::Json).ok_or(ApiError::NotFound)
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
    group: Uuid,
    order: &OrderRow,
    today: NaiveDate,
) -> Result<(), ApiError> {
    let document = order.currency()?;
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

fn invalid_state(order: &OrderRow, transition: Transition) -> ApiError {
    ApiError::conflict(
        "invalid_state",
        format!(
            "an intercompany order that is {} cannot be {}",
            order.status,
            transition.verb()
        ),
    )
}

/// Runs one transition of order `id` in a transaction: lock, authorize, check the state, do
/// the transition's own work, set the new status, audit, and answer the order as it is now.
async fn transition(
    state: &AppState,
    user: &CurrentUser,
    id: Uuid,
    transition: Transition,
    actor: Actor,
    body: TransitionBody,
) -> Result<web::Json<IcOrderView>, ApiError> {
    let mut conn = state.pool.get().await?;
    let view = conn
        .transaction::<_, ApiError, _>(async |conn| {
            let order = queries::lock(conn, user.group_id, id)
                .await?
                .ok_or(ApiError::NotFound)?;
            authorize(user, &order, actor)?;
            let from = order.status()?;
            let to = transition
                .apply(from)
                .ok_or_else(|| invalid_state(&order, transition))?;
            let now = state.clock.now();
            let today = crate::bookings::today(conn, user.group_id, now).await?;
            let target = diesel::update(orders::table.find(id));
            let status = (orders::status.eq(to.as_str()), orders::updated_at.eq(now));
            match (transition, &body) {
                (Transition::Accept, TransitionBody::Accept(accept)) => {
                    if accept.promised_date.is_some_and(|d| d < today) {
                        return Err(ApiError::invalid_field(
                            "promised_date",
                            "must not be in the past",
                        ));
                    }
                    let horizon = today.checked_add_months(chrono::Months::new(12));
                    if accept
                        .promised_date
                        .is_some_and(|d| horizon.is_none_or(|h| d > h))
                    {
                        return Err(ApiError::invalid_field(
                            "promised_date",
                            "must be at most a year ahead",
                        ));
                    }
                    within_bounds(conn, user.group_id, &order, today).await?;
                    let lines = queries::quantities(conn, id).await?;
                    crate::inventory::take(conn, user.group_id, &lines).await?;
                    target
                        .set((
                            status,
                            orders::promised_date.eq(accept.promised_date),
                            orders::accepted_at.eq(Some(now)),
                        ))
                        .execute(conn)
                        .await?;
                }
                (Transition::Ship, TransitionBody::Booking(booking)) => {
                    let date = booking_date(today, booking.date, order.order_date)?;
                    ledger::book_shipment(conn, user.group_id, &order, date).await?;
                    target
                        .set((
                            status,
                            orders::ship_date.eq(Some(date)),
                            orders::shipped_at.eq(Some(now)),
                        ))
                        .execute(conn)
                        .await?;
                }
                (Transition::Settle, TransitionBody::Booking(booking)) => {
                    let shipped = order.ship_date.unwrap_or(order.order_date);
                    let date = booking_date(today, booking.date, shipped)?;
                    ledger::book_settlement(conn, user.group_id, &order, date).await?;
                    target
                        .set((
                            status,
                            orders::settle_date.eq(Some(date)),
                            orders::settled_at.eq(Some(now)),
                        ))
                        .execute(conn)
                        .await?;
                }
                _ => {
                    target.set(status).execute(conn).await?;
                }
            }
            let row = queries::find(conn, user.group_id, id)
                .await?
                .ok_or(ApiError::NotFound)?;
            let view = queries::views(conn, vec![row])
                .await?
                .pop()
                .ok_or(ApiError::NotFound)?;
            audit::record(
                conn,
                user.group_id,
                Some(user),
                Change::new(
                    match transition {
                        Transition::Accept => "intercompany_order.accepted",
                        Transition::Reject => "intercompany_order.rejected",
                        Transition::Cancel => "intercompany_order.cancelled",
                        Transition::Ship => "intercompany_order.shipped",
                        Transition::Settle => "intercompany_order.settled",
                    },
                    "intercompany_order",
                    id,
                )
                .before(&serde_json::json!({"status": from}))
                .after(&view),
            )
            .await?;
            Ok(view)
        })
        .await?;
    if transition == Transition::Accept {
        let products: Vec<Uuid> = view.lines.iter().map(|l| l.product_id).collect();
        state.changes.publish(Changed::Stock {
            products: &products,
            buyer: None,
        });
    }
    Ok(web::Json(view))
}

enum TransitionBody {
    None,
    Accept(AcceptBody),
    Booking(BookingBody),
}

/// Accept a requested order (the seller's purchaser, or an admin): stock is taken (409
/// `insufficient_stock` when short); an optional `promised_date` (today to a year ahead) is
/// recorded. An order whose amounts at shipment would exceed 13 integer digits → 422
/// `validation_failed`.
#[utoipa::path(
    tag = "intercompany",
    params(("id" = Uuid, Path)),
    request_body(content = AcceptBody, description = "Optional"),
    security(("bearer" = ["purchaser", "finance", "admin"])),
    responses(
        (status = 200, body = IcOrderView),
        (status = 409, description = "invalid_state or insufficient_stock"),
        (
            status = 422,
            description = "promised_date out of range, or amounts at shipment beyond 13 integer \
                digits"
        )
    )
)]
#[post("/intercompany-orders/{id}/accept")]
#[tracing::instrument(skip_all)]
pub async fn accept_order(
    user: Authorized<Trade>,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    body: OptionalBody<AcceptBody>,
) -> Result<web::Json<IcOrderView>, ApiError> {
    let body = body.into_inner()?.unwrap_or_default();
    transition(
        &state,
        &user,
        *id,
        Transition::Accept,
        Actor::Seller,
        TransitionBody::Accept(body),
    )
    .await
}

/// Reject a requested order (the seller's purchaser, or an admin).
#[utoipa::path(
    tag = "intercompany",
    params(("id" = Uuid, Path)),
    security(("bearer" = ["purchaser", "finance", "admin"])),
    responses((status = 200, body = IcOrderView), (status = 409, description = "invalid_state"))
)]
#[post("/intercompany-orders/{id}/reject")]
#[tracing::instrument(skip_all)]
pub async fn reject_order(
    user: Authorized<Trade>,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
) -> Result<web::Json<IcOrderView>, ApiError> {
    transition(
        &state,
        &user,
        *id,
        Transition::Reject,
        Actor::Seller,
        TransitionBody::None,
    )
    .await
}

/// Ship an accepted order (the seller's purchaser, or an admin): books the seller's
/// receivable and the buyer's payable at the booking date's rate, in one transaction.
#[utoipa::path(
    tag = "intercompany",
    params(("id" = Uuid, Path)),
    request_body(content = BookingBody, description = "Optional"),
    security(("bearer" = ["purchaser", "finance", "admin"])),
    responses(
        (status = 200, body = IcOrderView),
        (
            status = 409,
            description = "invalid_state, or period_closed (the date is in or before a closed \
                month)"
        ),
        (status = 422, description = "fx_rate_missing, or a date in the future")
    )
)]
#[post("/intercompany-orders/{id}/ship")]
#[tracing::instrument(skip_all)]
pub async fn ship_order(
    user: Authorized<Trade>,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    body: OptionalBody<BookingBody>,
) -> Result<web::Json<IcOrderView>, ApiError> {
    let body = body.into_inner()?.unwrap_or_default();
    transition(
        &state,
        &user,
        *id,
        Transition::Ship,
        Actor::Seller,
        TransitionBody::Booking(body),
    )
    .await
}

/// Settle a shipped order (finance): books both settlements at the booking date's rate and
/// the buyer's realised FX difference (positive = loss).
#[utoipa::path(
    tag = "intercompany",
    params(("id" = Uuid, Path)),
    request_body(content = BookingBody, description = "Optional"),
    security(("bearer" = ["purchaser", "finance", "admin"])),
    responses(
        (status = 200, body = IcOrderView),
        (
            status = 409,
            description = "invalid_state, or period_closed (the date is in or before a closed \
                month)"
        ),
        (status = 422, description = "fx_rate_missing, or a date in the future")
    )
)]
#[post("/intercompany-orders/{id}/settle")]
#[tracing::instrument(skip_all)]
pub async fn settle_order(
    user: Authorized<Trade>,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    body: OptionalBody<BookingBody>,
) -> Result<web::Json<IcOrderView>, ApiError> {
    let body = body.into_inner()?.unwrap_or_default();
    transition(
        &state,
        &user,
        *id,
        Transition::Settle,
        Actor::Finance,
        TransitionBody::Booking(body),
    )
    .await
}

/// Cancel a requested order (the buyer's purchaser, or an admin).
#[utoipa::path(
    operation_id = "cancel_intercompany_order",
    tag = "intercompany",
    params(("id" = Uuid, Path)),
    security(("bearer" = ["purchaser", "finance", "admin"])),
    responses((status = 200, body = IcOrderView), (status = 409, description = "invalid_state"))
)]
#[post("/intercompany-orders/{id}/cancel")]
#[tracing::instrument(skip_all)]
pub async fn cancel_order(
    user: Authorized<Trade>,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
) -> Result<web::Json<IcOrderView>, ApiError> {
    transition(
        &state,
        &user,
        *id,
        Transition::Cancel,
        Actor::Buyer,
        TransitionBody::None,
    )
    .await
}
