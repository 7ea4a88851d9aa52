//! Employee order endpoints.

use actix_web::{get, post, web, HttpResponse};
use chrono::Utc;
use diesel::prelude::*;
use diesel_async::{AsyncConnection as _, RunQueryDsl};
use uuid::Uuid;

use super::dto::*;
use super::placement::{self, Placed};
use super::queries::{self, OrderRow};
use super::{pricing, validation, views};
use crate::audit::Change;
use crate::body::Body;
use crate::changes::Changed;
use crate::db::schema::orders;
use crate::domain::lifecycle::{OrderAction, Transition as _};
use crate::error::ApiError;
use crate::idempotency::{self, IdempotencyHeader};
use crate::identity::auth::{Admin, Authorized, CurrentUser, Role, Subject};
use crate::ids::{EmployeeId, OrderId, ProductId};
use crate::pagination::Page;
use crate::state::AppState;
use crate::write;

const PLACE_SCOPE: &str = "POST /orders";

/// Price an order without placing it: the same rules, the allowance cap included.
#[utoipa::path(
    tag = "orders", request_body = NewOrder, security(("bearer" = [])),
    responses(
        (status = 200, body = QuoteView),
        (status = 409, description = "insufficient_stock or purchase_limit_exceeded"),
        (
            status = 422,
            description = "Invalid lines or for_member_id, not_eligible, fx_rate_missing; paid \
                from wages: payroll_deduction_unavailable, tenure_too_short, \
                instalments_not_allowed, deduction_share_exceeded"
        )
    )
)]
#[post("/orders/quote")]
#[tracing::instrument(skip_all, fields(employee_id = %user.id))]
pub async fn quote_order(
    user: CurrentUser,
    state: web::Data<AppState>,
    body: Body<NewOrder>,
) -> Result<web::Json<QuoteView>, ApiError> {
    let body = body.into_inner()?;
    let request = validation::validate(&body)?;
    let mut conn = state.pool.get().await?;
    if let Some(member) = request.for_member {
        if !crate::identity::household::is_current_member(&mut conn, &user, member).await? {
            return Err(placement::not_a_member());
        }
    }
    let now = state.clock.now();
    let quote = pricing::quote(&mut conn, &user, &request, now).await?;
    Ok(web::Json(views::quote_view(
        &user,
        request.for_member,
        &quote,
        now,
    )))
}

/// Place an order. Requires `Idempotency-Key`: the same key and body replay the first
/// response (`Idempotency-Replay: true`); another body → 422; while the first runs → 409.
#[utoipa::path(
    tag = "orders", request_body = NewOrder, params(crate::idempotency::RequiredKeyParam),
    security(("bearer" = [])),
    responses(
        (status = 201, body = OrderView),
        (
            status = 409,
            description = "insufficient_stock, purchase_limit_exceeded or request_in_progress"
        ),
        (
            status = 422,
            description = "Invalid lines or for_member_id, not_eligible, fx_rate_missing, \
                idempotency_key_reused; paid from wages: payroll_deduction_unavailable, \
                tenure_too_short, instalments_not_allowed, deduction_share_exceeded"
        )
    )
)]
#[post("/orders")]
#[tracing::instrument(skip_all, fields(employee_id = %subject.id))]
pub async fn place_order(
    subject: Subject,
    state: web::Data<AppState>,
    key: IdempotencyHeader,
    body: Body<NewOrder>,
) -> Result<HttpResponse, ApiError> {
    let key = key.into_key()?;
    let body = body.into_inner()?;
    let request = validation::validate(&body)?;
    let hash = idempotency::request_hash(&body);
    let mut conn = state.pool.get().await?;
    let now = state.clock.now();
    let placed = placement::place(
        &mut conn,
        &subject,
        &request,
        &key,
        (PLACE_SCOPE, &hash),
        now,
        state.settings.pool.statement_timeout,
    )
    .await?;
    let (status, response, replayed) = match placed {
        Placed::Replay(stored) => (stored.status, stored.body, true),
        // The audit event is written by `place`, in the order's own statement.
        Placed::Created(body) => {
            state.changes.publish(Changed::Stock {
                products: &request.product_ids(),
                buyer: Some(subject.id),
            });
            (201, body, false)
        }
    };
    let mut builder = HttpResponse::build(
        actix_web::http::StatusCode::from_u16(status)
            .unwrap_or(actix_web::http::StatusCode::CREATED),
    );
    if replayed {
        builder.insert_header(("Idempotency-Replay", "true"));
    }
    Ok(builder.json(response))
}

/// List orders, newest first: employees their own; finance and admin all of their group,
/// with filters.
#[utoipa::path(
    tag = "orders", params(OrderListQuery), security(("bearer" = [])),
    responses(
        (status = 200, body = Page<OrderView>),
        (
            status = 403,
            description = "`employee_id` of another employee, without the finance or admin role"
        )
    )
)]
#[get("/orders")]
#[tracing::instrument(skip_all, fields(employee_id = %user.id))]
pub async fn list_orders(
    user: CurrentUser,
    state: web::Data<AppState>,
    query: crate::json::Query<OrderListQuery>,
) -> Result<web::Json<Page<OrderView>>, ApiError> {
    let page = query.page::<(chrono::DateTime<Utc>, Uuid)>()?;
    let sees_all = user.has(Role::Admin) || user.has(Role::Finance);
    let asked = query.employee_id.map(EmployeeId::from);
    let employee = if sees_all {
        asked
    } else {
        if asked.is_some_and(|id| id != user.id) {
            return Err(ApiError::Forbidden);
        }
        Some(user.id)
    };
    let mut sql = orders::table
        .filter(orders::group_id.eq(user.group_id))
        .select(OrderRow::as_select())
        .order((orders::created_at.desc(), orders::id.desc()))
        .limit(page.fetch())
        .into_boxed();
    if let Some(employee) = employee {
        sql = sql.filter(orders::employee_id.eq(employee));
    }
    if let Some(company) = query.company_id {
        sql = sql.filter(orders::seller_company_id.eq(company));
    }
    if let Some(status) = query.status {
        sql = sql.filter(orders::status.eq(status));
    }
    if let Some(month) = query.period {
        let (from, to) = user.zone.month(month);
        sql = sql
            .filter(orders::created_at.ge(from))
            .filter(orders::created_at.lt(to));
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
    let stored = queries::with_lines(&mut conn, rows).await?;
    let views = views::stored_views(stored, user.zone.today(state.clock.now()));
    Ok(web::Json(
        page.of(views, |o: &OrderView| (o.created_at, o.id)),
    ))
}

fn may_see(user: &CurrentUser, order: &OrderRow) -> bool {
    order.employee_id == user.id || user.has(Role::Admin) || user.has(Role::Finance)
}

/// One order: the owner's, or any of their group for finance and admin (others get 404).
#[utoipa::path(
    tag = "orders", params(("id" = Uuid, Path)), security(("bearer" = [])),
    responses((status = 200, body = OrderView))
)]
#[get("/orders/{id}")]
pub async fn get_order(
    user: CurrentUser,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
) -> Result<web::Json<OrderView>, ApiError> {
    let mut conn = state.pool.get().await?;
    let row: OrderRow = orders::table
        .find(*id)
        .filter(orders::group_id.eq(user.group_id))
        .select(OrderRow::as_select())
        .get_result(&mut conn)
        .await
        .optional()?
        .filter(|row| may_see(&user, row))
        .ok_or(ApiError::NotFound)?;
    let stored = queries::with_lines(&mut conn, vec![row]).await?;
    let mut views = views::stored_views(stored, user.zone.today(state.clock.now()));
    views.pop().map(web::Json).ok_or(ApiError::NotFound)
}

/// Cancel a placed order (its owner, or an admin): stock, allowance and purchase-limit
/// quantity are given back. Any other state → 409 `invalid_state`.
#[utoipa::path(
    tag = "orders", params(("id" = Uuid, Path)), security(("bearer" = [])),
    responses((status = 200, body = OrderView), (status = 409, description = "invalid_state"))
)]
#[post("/orders/{id}/cancel")]
pub async fn cancel_order(
    user: CurrentUser,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
) -> Result<web::Json<OrderView>, ApiError> {
    let id = OrderId::from(id.into_inner());
    let mut conn = state.pool.get().await?;
    let user = &user;
    let now = state.clock.now();
    let view = conn
        .transaction::<_, ApiError, _>(async move |conn| {
            let order = queries::find_for_update(conn, user.group_id, id)
                .await?
                .filter(|o| o.employee_id == user.id || user.has(Role::Admin))
                .ok_or(ApiError::NotFound)?;
            OrderAction::Cancel.from(order.status)?;
            let today = user.zone.today(now);
            let stored = queries::cancel(conn, user.group_id, &order, (now, today)).await?;
            let view = views::stored_view(stored, today);
            write::by(user, user.group_id)
                .record(
                    conn,
                    Change::new("order.cancelled", "order", id.uuid())
                        .before(&serde_json::json!({"status": order.status}))
                        .after(&view),
                )
                .await?;
            Ok(view)
        })
        .await?;
    let products: Vec<ProductId> = view
        .priced
        .lines
        .iter()
        .map(|line| line.product_id.into())
        .collect();
    state.changes.publish(Changed::Stock {
        products: &products,
        buyer: Some(EmployeeId::from(view.employee_id)),
    });
    Ok(web::Json(view))
}

/// Mark a placed order fulfilled (admin): its lines' employee-benefit facts are fixed now, in
/// the employer's currency at today's rate (none known → 422 `fx_rate_missing`). Any other
/// state → 409 `invalid_state`.
#[utoipa::path(
    tag = "orders", params(("id" = Uuid, Path)), security(("bearer" = ["admin"])),
    responses(
        (status = 200, body = OrderView),
        (status = 409, description = "invalid_state"),
        (status = 422, description = "fx_rate_missing")
    )
)]
#[post("/orders/{id}/fulfil")]
pub async fn fulfil_order(
    admin: Authorized<Admin>,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
) -> Result<web::Json<OrderView>, ApiError> {
    let id = OrderId::from(id.into_inner());
    let mut conn = state.pool.get().await?;
    let admin = &admin.user;
    let state = &state;
    let view = conn
        .transaction::<_, ApiError, _>(async move |conn| {
            let order = queries::find_for_update(conn, admin.group_id, id)
                .await?
                .ok_or(ApiError::NotFound)?;
            let fulfilled = OrderAction::Fulfil.from(order.status)?;
            let lines = queries::lines_of(conn, id).await?;
            // A fulfilment is a sale of the group's today: it takes the books' shared lock (as
            // every booking does), so it and the close of its month never both commit, and a
            // closed month never gains a sale after its reports were stored.
            let now = state.clock.now();
            let today = crate::bookings::today(conn, admin.group_id, now).await?;
            crate::bookings::open_on(conn, admin.group_id, today).await?;
            let stored = queries::set_status(conn, &order, fulfilled, Some(now), lines).await?;
            let view = views::stored_view(stored, today);
            super::benefit_facts::record(conn, admin.group_id, id, today, now).await?;
            write::by(admin, admin.group_id)
                .record(
                    conn,
                    Change::new("order.fulfilled", "order", id.uuid())
                        .before(&serde_json::json!({"status": order.status}))
                        .after(&serde_json::json!({"status": view.status})),
                )
                .await?;
            Ok(view)
        })
        .await?;
    Ok(web::Json(view))
}
