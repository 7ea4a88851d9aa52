//! Intercompany order endpoints, thin: each reads its input, calls `validation`, `pricing`,
//! `placement`, `transitions` or `queries`, and answers with `views`. Who may do what is
//! decided once, in `access`.

use actix_web::{get, post, web, HttpResponse};
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::dto::*;
use super::queries::{self, ListFilter};
use super::transitions::{self, Step};
use super::{access, placement, pricing, validation, views};
use crate::body::{Body, OptionalBody};
use crate::error::ApiError;
use crate::idempotency::{self, IdempotencyHeader, Once};
use crate::identity::auth::{Authorized, CurrentUser, Purchaser, Trade};
use crate::ids::{CompanyId, IcOrderId};
use crate::pagination::Page;
use crate::state::AppState;

const CREATE_SCOPE: &str = "POST /intercompany-orders";

/// Price an intercompany order without placing it (a purchaser of the buyer).
#[utoipa::path(
    operation_id = "quote_intercompany_order", tag = "intercompany", request_body = NewIcOrder,
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
pub async fn quote_order(
    user: Authorized<Purchaser>,
    state: web::Data<AppState>,
    body: Body<NewIcOrder>,
) -> Result<web::Json<IcQuoteView>, ApiError> {
    let body = body.into_inner()?;
    let mut conn = state.pool.get().await?;
    buyer_in_group(&mut conn, &user, &body).await?;
    let request = validation::validate(&user, &body)?;
    let today = crate::bookings::today(&mut conn, user.group_id, state.clock.now()).await?;
    let priced = pricing::price(&mut conn, user.group_id, &request, today).await?;
    Ok(web::Json(views::quote(&priced)))
}

/// Place an intercompany order (a purchaser of the buyer). Requires `Idempotency-Key`: the
/// same key and body replay the first response (`Idempotency-Replay: true`); another body →
/// 422; while the first runs → 409.
#[utoipa::path(
    tag = "intercompany", request_body = NewIcOrder, params(crate::idempotency::RequiredKeyParam),
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
pub async fn create_order(
    user: Authorized<Purchaser>,
    state: web::Data<AppState>,
    key: IdempotencyHeader,
    body: Body<NewIcOrder>,
) -> Result<HttpResponse, ApiError> {
    let key = key.into_key()?;
    let body = body.into_inner()?;
    let mut conn = state.pool.get().await?;
    buyer_in_group(&mut conn, &user, &body).await?;
    let request = validation::validate(&user, &body)?;
    let hash = idempotency::request_hash(&body);
    let now = state.clock.now();
    let user = &user.user;
    let once = Once::required(key, CREATE_SCOPE, hash);
    once.run(&mut conn, user.id, async move |conn| {
        let view = placement::place(conn, now, user, &request).await?;
        Ok((
            actix_web::http::StatusCode::CREATED,
            crate::json::to_value(&view)?,
        ))
    })
    .await
}

/// A buyer outside the caller's group is a reference to another tenant's company: 422 naming
/// it (§3), where a company of the group that is not the caller's is 403 (`validation`). Read
/// only when the buyer is not the caller's own company.
async fn buyer_in_group(
    conn: &mut diesel_async::AsyncPgConnection,
    user: &CurrentUser,
    body: &NewIcOrder,
) -> Result<(), ApiError> {
    let buyer = body.buyer_company_id;
    if user.company_id != CompanyId::from(buyer)
        && !crate::identity::queries::company_in_group(conn, user.group_id, buyer).await?
    {
        return Err(ApiError::invalid_field(
            "buyer_company_id",
            "no company with this id in your group",
        ));
    }
    Ok(())
}

/// List intercompany orders, newest first: purchasers those of their company (as buyer or
/// seller), finance and admins the group's; with filters.
#[utoipa::path(
    operation_id = "list_intercompany_orders", tag = "intercompany", params(IcOrderQuery),
    security(("bearer" = ["purchaser", "finance", "admin"])),
    responses((status = 200, body = Page<IcOrderView>))
)]
#[get("/intercompany-orders")]
pub async fn list_orders(
    user: Authorized<Trade>,
    state: web::Data<AppState>,
    query: crate::json::Query<IcOrderQuery>,
) -> Result<web::Json<Page<IcOrderView>>, ApiError> {
    let page = query.page::<(DateTime<Utc>, Uuid)>()?;
    let created = query.period.map(|month| user.zone.month(month));
    let filter = ListFilter {
        party: access::listed_company(&user).map(CompanyId::uuid),
        status: query.status,
        buyer: query.buyer_company_id,
        seller: query.seller_company_id,
        created,
    };
    let mut conn = state.pool.get().await?;
    let rows = queries::list(&mut conn, user.group_id, &filter, page.after, page.fetch()).await?;
    let views = views::of_rows(&mut conn, rows).await?;
    Ok(web::Json(
        page.of(views, |o: &IcOrderView| (o.created_at, o.id)),
    ))
}

/// One intercompany order with its lines and ledger entries.
#[utoipa::path(
    operation_id = "get_intercompany_order", tag = "intercompany", params(("id" = Uuid, Path)),
    security(("bearer" = ["purchaser", "finance", "admin"])),
    responses((status = 200, body = IcOrderView))
)]
#[get("/intercompany-orders/{id}")]
pub async fn get_order(
    user: Authorized<Trade>,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
) -> Result<web::Json<IcOrderView>, ApiError> {
    let mut conn = state.pool.get().await?;
    let row = queries::find(&mut conn, user.group_id, IcOrderId::from(*id))
        .await?
        .filter(|row| access::sees(&user, row))
        .ok_or(ApiError::NotFound)?;
    let mut views = views::of_rows(&mut conn, vec![row]).await?;
    views.pop().map(web::Json).ok_or(ApiError::NotFound)
}

/// Accept a requested order (the seller's purchaser, or an admin): stock is taken (409
/// `insufficient_stock` when short); an optional `promised_date` (today to a year ahead) is
/// recorded. An order whose amounts at shipment would exceed 13 integer digits → 422
/// `validation_failed`.
#[utoipa::path(
    tag = "intercompany", params(("id" = Uuid, Path)),
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
pub async fn accept_order(
    user: Authorized<Trade>,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    body: OptionalBody<AcceptBody>,
) -> Result<web::Json<IcOrderView>, ApiError> {
    let body = body.into_inner()?.unwrap_or_default();
    transitions::run(&state, &user, IcOrderId::from(*id), Step::Accept(body))
        .await
        .map(web::Json)
}

/// Reject a requested order (the seller's purchaser, or an admin).
#[utoipa::path(
    tag = "intercompany", params(("id" = Uuid, Path)),
    security(("bearer" = ["purchaser", "finance", "admin"])),
    responses((status = 200, body = IcOrderView), (status = 409, description = "invalid_state"))
)]
#[post("/intercompany-orders/{id}/reject")]
pub async fn reject_order(
    user: Authorized<Trade>,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
) -> Result<web::Json<IcOrderView>, ApiError> {
    transitions::run(&state, &user, IcOrderId::from(*id), Step::Reject)
        .await
        .map(web::Json)
}

/// Ship an accepted order (the seller's purchaser, or an admin): books the seller's
/// receivable and the buyer's payable at the booking date's rate, in one transaction.
#[utoipa::path(
    tag = "intercompany", params(("id" = Uuid, Path)),
    request_body(content = BookingBody, description = "Optional"),
    security(("bearer" = ["purchaser", "finance", "admin"])),
    responses(Booked)
)]
#[post("/intercompany-orders/{id}/ship")]
pub async fn ship_order(
    user: Authorized<Trade>,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    body: OptionalBody<BookingBody>,
) -> Result<web::Json<IcOrderView>, ApiError> {
    book(&state, &user, *id, body, Step::Ship).await
}

/// Settle a shipped order (finance): books both settlements at the booking date's rate and
/// the buyer's realised FX difference (positive = loss).
#[utoipa::path(
    tag = "intercompany", params(("id" = Uuid, Path)),
    request_body(content = BookingBody, description = "Optional"),
    security(("bearer" = ["purchaser", "finance", "admin"])),
    responses(Booked)
)]
#[post("/intercompany-orders/{id}/settle")]
pub async fn settle_order(
    user: Authorized<Trade>,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    body: OptionalBody<BookingBody>,
) -> Result<web::Json<IcOrderView>, ApiError> {
    book(&state, &user, *id, body, Step::Settle).await
}

/// What shipping and settling answer; both book at a date, so both refuse alike.
#[derive(utoipa::IntoResponses)]
// Only its type is used: it declares the responses in the document; never built, so its
// variants' sizes do not matter.
#[allow(dead_code, clippy::large_enum_variant)]
enum Booked {
    #[response(status = 200)]
    Order(IcOrderView),
    #[response(
        status = 409,
        description = "invalid_state, or period_closed (the date is in or before a closed month)"
    )]
    Conflict,
    #[response(status = 422, description = "fx_rate_missing, or a date in the future")]
    Refused,
}

/// Ships or settles (`step`) the order `id` at the body's date (today when none is given).
async fn book(
    state: &AppState,
    user: &Authorized<Trade>,
    id: Uuid,
    body: OptionalBody<BookingBody>,
    step: fn(BookingBody) -> Step,
) -> Result<web::Json<IcOrderView>, ApiError> {
    let body = body.into_inner()?.unwrap_or_default();
    transitions::run(state, user, IcOrderId::from(id), step(body))
        .await
        .map(web::Json)
}

/// Cancel a requested order (the buyer's purchaser, or an admin).
#[utoipa::path(
    operation_id = "cancel_intercompany_order", tag = "intercompany", params(("id" = Uuid, Path)),
    security(("bearer" = ["purchaser", "finance", "admin"])),
    responses((status = 200, body = IcOrderView), (status = 409, description = "invalid_state"))
)]
#[post("/intercompany-orders/{id}/cancel")]
pub async fn cancel_order(
    user: Authorized<Trade>,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
) -> Result<web::Json<IcOrderView>, ApiError> {
    transitions::run(&state, &user, IcOrderId::from(*id), Step::Cancel)
        .await
        .map(web::Json)
}
