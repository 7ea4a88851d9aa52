//! Product endpoints: the personalised listing (through the listing cache) and product page,
//! and the admin's product writes and stock adjustments.

use std::sync::Arc;

use actix_web::http::StatusCode;
use actix_web::{get, patch, post, web, HttpResponse};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use rust_decimal::Decimal;
use uuid::Uuid;

use super::cache::{CachedPage, ListingCache, PageKey, Served, Stamp};
use super::dto::*;
use super::queries::{self, ProductRow};
use crate::audit::Change;
use crate::body::Body;
use crate::changes::Changed;
use crate::db::schema::{categories, companies, products};
use crate::domain::codes::CurrencyCode;
use crate::domain::pricing;
use crate::error::{ApiError, FieldError};
use crate::fields::Name;
use crate::idempotency::Keyed;
use crate::identity::auth::{load_active, Admin, Authorized, CurrentUser, Role, Subject};
use crate::ids::{GroupId, ProductId};
use crate::pagination::{Page, PageRequest};
use crate::state::AppState;
use crate::validation::{self, amount};
use crate::write;

// ---------------------------------------------------------------------------------------------
// Products

/// Products the caller may buy (active, employee-eligible, sold within their group), each
/// with the caller's own discount and price. Keyset-paginated in sku order.
///
/// Prices, names and eligibility follow every change. Without `q`, `stock_available` and
/// `purchase_limit.remaining` may be up to a second old (the server's listing cache; changes
/// made through the same server show at once). Orders always check the live figures.
#[utoipa::path(
    tag = "catalog", params(ProductListQuery), security(("bearer" = [])),
    responses((status = 200, body = Page<ProductView>))
)]
#[get("/products")]
#[tracing::instrument(skip_all, fields(employee_id = %subject.id))]
pub async fn list_products(
    subject: Subject,
    state: web::Data<AppState>,
    cache: web::Data<ListingCache>,
    query: crate::json::Query<ProductListQuery>,
) -> Result<HttpResponse, ApiError> {
    let page = query.page::<String>()?;
    if query.q.as_deref().is_some_and(|q| q.chars().count() > 100) {
        return Err(ApiError::bad_field("q", "must be at most 100 characters"));
    }
    let stamp = cache.stamp();
    let user = signed_in(&state, &cache, stamp, subject).await?;
    let stamp = stamp.filter(|_| !user.has(Role::Admin) && !queries::is_search(&query));
    let Some(stamp) = stamp else {
        cache.count(Served::Bypass);
        // Admins see what they have just changed: their pages come from the primary.
        let on = if user.has(Role::Admin) {
            Source::Primary
        } else {
            Source::Replica(cache.read_floor(&state.pool).await?)
        };
        let live = read_page(&state, &user, (&query, &page, on), true).await?;
        return Ok(HttpResponse::Ok().json(live));
    };

    let key = PageKey {
        group_id: user.group_id,
        tier_id: user.tier_id,
        employment_type: user.employment_type,
        category_id: query.category_id,
        seller_company_id: query.seller_company_id,
        after: page.after.clone(),
        limit: page.limit,
    };
    let cached = match cache.page(&key) {
        Some(cached) => {
            cache.count(Served::Hit);
            cached
        }
        None => {
            cache.count(Served::Miss);
            // Shared by every reader of the key: nothing bought yet, filled in per reader below.
            let floor = cache.read_floor(&state.pool).await?;
            let built = read_page(
                &state,
                &user,
                (&query, &page, Source::Replica(floor)),
                false,
            )
            .await?;
            let cached =
                Arc::new(CachedPage::new(built).map_err(|e| ApiError::internal(e.to_string()))?);
            cache.put_page(stamp, key, cached.clone());
            cached
        }
    };
    if let Some(body) = &cached.body {
        return Ok(HttpResponse::Ok()
            .content_type("application/json")
            .body(body.clone()));
    }
    let today = user.zone.today(state.clock.now());
    let usage = match cache.usage(user.id) {
        Some(usage) => usage,
        None => {
            let mut conn = state.pool.get().await?;
            let usage = Arc::new(crate::ledger::limit_usage(&mut conn, user.id, today).await?);
            cache.put_usage(stamp, user.id, usage.clone());
            usage
        }
    };
    let mut personal = cached.page.clone();
    for item in &mut personal.items {
        if let Some(limit) = &mut item.purchase_limit {
            let used = usage.used(ProductId::from(item.id), limit.period, today);
            limit.remaining = (limit.max_quantity - used).max(0);
        }
    }
    Ok(HttpResponse::Ok().json(personal))
}

/// Where a listing page's products are read.
enum Source {
    Primary,
    /// A replica that has replayed the primary's WAL up to this position (else the primary).
    Replica(u64),
}

/// One page of the listing from the database, personalised for `user`; with `with_usage`,
/// purchase limits show what `user` may still buy, else their full quantity. The products come
/// from `on`; what `user` bought (their own writes) always from the primary.
async fn read_page(
    state: &AppState,
    user: &CurrentUser,
    (query, page, on): (&ProductListQuery, &PageRequest<String>, Source),
    with_usage: bool,
) -> Result<Page<ProductView>, ApiError> {
    let today = user.zone.today(state.clock.now());
    let products = async |conn: &mut diesel_async::AsyncPgConnection| {
        Ok(queries::visible_products(
            conn,
            user.group_id,
            user.tier_id,
            query,
            page.after.as_deref(),
            page.fetch(),
        )
        .await?)
    };
    let rows = match on {
        Source::Replica(floor) => state.reads.read(floor, products).await?,
        Source::Primary => products(&mut *state.pool.get().await?).await?,
    };
    let used = if with_usage {
        let mut conn = state.pool.get().await?;
        crate::ledger::used_of(&mut conn, user.id, &queries::limited(&rows), today).await?
    } else {
        std::collections::HashMap::new()
    };
    let views = rows
        .into_iter()
        .map(|row| {
            let bought = used.get(&row.product.id).copied().unwrap_or(0);
            queries::personalise(row, user, bought)
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(page.of(views, |p: &ProductView| p.sku.clone()))
}

/// The signed-in employee (401 unless active): from the listing cache when it holds them,
/// else from the database (then cached if the cache is in use: `stamp`).
async fn signed_in(
    state: &AppState,
    cache: &ListingCache,
    stamp: Option<Stamp>,
    subject: Subject,
) -> Result<Arc<CurrentUser>, ApiError> {
    // A cached employee under another credential version is read again rather than trusted
    // either way: the token may be older (refused below) or the entry (a change through
    // another instance whose notification is still on its way).
    if let Some(user) = cache
        .employee(subject.id)
        .filter(|user| user.credential_version == subject.version)
    {
        return Ok(user);
    }
    let user = Arc::new(load_active(state, &subject).await?);
    if let Some(stamp) = stamp {
        cache.put_employee(stamp, user.clone());
    }
    Ok(user)
}

/// Whether `user` may see a product: admins all of their group's, others what they may buy.
fn visible_to(user: &CurrentUser, row: &queries::PricedRow) -> bool {
    pricing::visible(row.offer(user.group_id), user.has(Role::Admin))
}

/// One product of the caller's group, personalised; admins also see cost, stock and flags
/// (and inactive products).
#[utoipa::path(
    tag = "catalog", params(("id" = Uuid, Path)), security(("bearer" = [])),
    responses((status = 200, body = ProductView))
)]
#[get("/products/{id}")]
pub async fn get_product(
    subject: Subject,
    state: web::Data<AppState>,
    cache: web::Data<ListingCache>,
    id: web::Path<Uuid>,
) -> Result<web::Json<ProductView>, ApiError> {
    // The product and the caller's usage are read live; only the caller may come from the cache.
    let user = signed_in(&state, &cache, cache.stamp(), subject).await?;
    let mut conn = state.pool.get().await?;
    let row = queries::find_product(&mut conn, user.group_id, ProductId::from(*id), user.tier_id)
        .await?
        .ok_or(ApiError::NotFound)?;
    if !visible_to(&user, &row) {
        return Err(ApiError::NotFound);
    }
    let today = user.zone.today(state.clock.now());
    let used = crate::ledger::used_of(
        &mut conn,
        user.id,
        &queries::limited(std::slice::from_ref(&row)),
        today,
    )
    .await?;
    let bought = used.get(&row.product.id).copied().unwrap_or(0);
    Ok(web::Json(queries::personalise(row, &user, bought)?))
}

/// The currency of `seller`, a company of `group` (else 422 naming the field).
async fn seller_currency(
    conn: &mut diesel_async::AsyncPgConnection,
    group: GroupId,
    seller: Uuid,
) -> Result<CurrencyCode, ApiError> {
    let currency: String = companies::table
        .find(seller)
        .filter(companies::group_id.eq(group))
        .select(companies::currency)
        .first(conn)
        .await
        .optional()?
        .ok_or_else(|| {
            ApiError::invalid_field("seller_company_id", "no company with this id in your group")
        })?;
    CurrencyCode::parse(&currency)
        .ok_or_else(|| ApiError::internal(format!("unknown currency {currency}")))
}

fn check_limit(limit: &Option<PurchaseLimit>, errors: &mut Vec<FieldError>) {
    if let Some(limit) = limit {
        if !(1..=1_000_000).contains(&limit.max_quantity) {
            errors.push(FieldError::new(
                "purchase_limit.max_quantity",
                "must be between 1 and 1000000",
            ));
        }
    }
}

/// A description holds at most 4000 characters (the sku and name are parsed with the body).
fn check_description(description: Option<&str>, errors: &mut Vec<FieldError>) {
    if description.is_some_and(|d| d.chars().count() > 4000) {
        errors.push(FieldError::new(
            "description",
            "must be at most 4000 characters",
        ));
    }
}

/// Ok when `id` is a category of `group`, else 422 naming the field.
async fn category_in_group(
    conn: &mut diesel_async::AsyncPgConnection,
    group: GroupId,
    id: Uuid,
) -> Result<(), ApiError> {
    let exists: bool = diesel::select(diesel::dsl::exists(
        categories::table
            .find(id)
            .filter(categories::group_id.eq(group)),
    ))
    .get_result(conn)
    .await?;
    if exists {
        Ok(())
    } else {
        Err(ApiError::invalid_field(
            "category_id",
            "no category with this id in your group",
        ))
    }
}

/// Create a product (admin). Prices are in the seller's currency.
#[utoipa::path(
    tag = "catalog", params(crate::idempotency::OptionalKeyParam), request_body = NewProduct,
    security(("bearer" = ["admin"])),
    responses(
        (status = 201, body = ProductView),
        (status = 409, description = "SKU taken, or request_in_progress"),
        (status = 422, description = "Invalid fields, or idempotency_key_reused")
    )
)]
#[post("/products")]
pub async fn create_product(
    admin: Authorized<Admin>,
    state: web::Data<AppState>,
    request: Keyed<NewProduct>,
) -> Result<HttpResponse, ApiError> {
    let (new, once) = request.parse("POST /products")?;
    let mut errors = Vec::new();
    check_description(new.description.as_deref(), &mut errors);
    check_limit(&new.purchase_limit, &mut errors);
    match new.stock_on_hand {
        Some(stock) if stock < 0 => {
            errors.push(FieldError::new("stock_on_hand", "must not be negative"))
        }
        Some(stock) => validation::stock_bound("stock_on_hand", stock, &mut errors),
        None => {}
    }
    let mut conn = state.pool.get().await?;
    let currency = seller_currency(&mut conn, admin.group_id, new.seller_company_id).await?;
    let list_price = amount("list_price", &new.list_price, currency, &mut errors);
    let unit_cost = amount("unit_cost", &new.unit_cost, currency, &mut errors);
    let (Some(list_price), Some(unit_cost), true) = (list_price, unit_cost, errors.is_empty())
    else {
        return Err(ApiError::invalid(errors));
    };
    let admin = &admin.user;
    let changes = &state.changes;
    once.run(&mut conn, admin.id, async move |conn| {
        let view = write::by(admin, admin.group_id)
            .conflict("sku", "another product of this group already uses this sku")
            .publishes(Changed::Definitions)
            .run(conn, changes, async move |conn| {
                category_in_group(conn, admin.group_id, new.category_id).await?;
                let row: ProductRow = diesel::insert_into(products::table)
                    .values((
                        products::group_id.eq(admin.group_id),
                        products::sku.eq(new.sku.as_str()),
                        products::name.eq(new.name.stored()),
                        products::description.eq(new.description.as_deref().unwrap_or("")),
                        products::category_id.eq(new.category_id),
                        products::seller_company_id.eq(new.seller_company_id),
                        products::kind.eq(new.kind.as_str()),
                        products::list_price.eq(list_price),
                        products::unit_cost.eq(unit_cost),
                        products::stock_on_hand.eq(new.stock_on_hand.unwrap_or(0)),
                        products::employee_eligible.eq(new.employee_eligible.unwrap_or(true)),
                        products::intercompany_eligible
                            .eq(new.intercompany_eligible.unwrap_or(true)),
                        products::offered_to_customers.eq(new.offered_to_customers.unwrap_or(true)),
                        products::active.eq(new.active.unwrap_or(true)),
                        products::purchase_limit_quantity
                            .eq(new.purchase_limit.as_ref().map(|l| l.max_quantity)),
                        products::purchase_limit_period
                            .eq(new.purchase_limit.as_ref().map(|l| l.period.as_str())),
                    ))
                    .returning(ProductRow::as_returning())
                    .get_result(conn)
                    .await?;
                let priced = queries::find_product(conn, admin.group_id, row.id, admin.tier_id)
                    .await?
                    .ok_or(ApiError::NotFound)?;
                let view = queries::personalise(priced, admin, 0)?;
                let change = Change::new("product.created", "product", view.id).after(&view);
                Ok((view, change))
            })
            .await?;
        Ok((StatusCode::CREATED, crate::json::to_value(&view)?))
    })
    .await
}

/// The columns a product PATCH sets; `None` leaves a column as it is.
#[derive(AsChangeset)]
#[diesel(table_name = products)]
struct ProductChanges<'a> {
    sku: Option<&'a str>,
    name: Option<&'a str>,
    description: Option<&'a str>,
    category_id: Option<Uuid>,
    kind: Option<ProductKind>,
    list_price: Option<Decimal>,
    unit_cost: Option<Decimal>,
    employee_eligible: Option<bool>,
    intercompany_eligible: Option<bool>,
    offered_to_customers: Option<bool>,
    active: Option<bool>,
    purchase_limit_quantity: Option<Option<i32>>,
    purchase_limit_period: Option<Option<LimitPeriod>>,
}

/// Change a product (admin). Stock changes go through `POST /products/{id}/stock`.
#[utoipa::path(
    tag = "catalog", params(("id" = Uuid, Path)), request_body = ProductPatch,
    security(("bearer" = ["admin"])),
    responses((status = 200, body = ProductView), (status = 409, description = "SKU taken"))
)]
#[patch("/products/{id}")]
pub async fn update_product(
    admin: Authorized<Admin>,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    body: Body<ProductPatch>,
) -> Result<web::Json<ProductView>, ApiError> {
    let id = ProductId::from(id.into_inner());
    let patch = body.into_inner()?;
    let mut errors = Vec::new();
    check_description(patch.description.as_deref(), &mut errors);
    if let Some(limit) = &patch.purchase_limit {
        check_limit(limit, &mut errors);
    }
    if !errors.is_empty() {
        return Err(ApiError::invalid(errors));
    }
    let mut conn = state.pool.get().await?;
    let admin = &admin.user;
    let now = state.clock.now();
    let view = write::by(admin, admin.group_id)
        .conflict("sku", "another product of this group already uses this sku")
        .publishes(Changed::Definitions)
        .run(&mut conn, &state.changes, async move |conn| {
            let before = held_for_change(conn, admin, id).await?;
            let code = before.currency;
            let mut errors = Vec::new();
            let list_price = patch
                .list_price
                .as_deref()
                .and_then(|raw| amount("list_price", raw, code, &mut errors));
            let unit_cost = patch
                .unit_cost
                .as_deref()
                .and_then(|raw| amount("unit_cost", raw, code, &mut errors));
            if !errors.is_empty() {
                return Err(ApiError::invalid(errors));
            }
            if let Some(category) = patch.category_id {
                category_in_group(conn, admin.group_id, category).await?;
            }
            let changes = ProductChanges {
                sku: patch.sku.as_deref(),
                name: patch.name.as_ref().map(Name::stored),
                description: patch.description.as_deref(),
                category_id: patch.category_id,
                kind: patch.kind,
                list_price,
                unit_cost,
                employee_eligible: patch.employee_eligible,
                intercompany_eligible: patch.intercompany_eligible,
                offered_to_customers: patch.offered_to_customers,
                active: patch.active,
                purchase_limit_quantity: patch
                    .purchase_limit
                    .as_ref()
                    .map(|l| l.as_ref().map(|l| l.max_quantity)),
                purchase_limit_period: patch
                    .purchase_limit
                    .as_ref()
                    .map(|l| l.as_ref().map(|l| l.period)),
            };
            diesel::update(products::table.find(id))
                .set((changes, products::updated_at.eq(diesel::dsl::now)))
                .execute(conn)
                .await?;
            recount_if_limit_moved(conn, (admin, now), &before.product, &patch).await?;
            let after = queries::find_product(conn, admin.group_id, id, admin.tier_id)
                .await?
                .ok_or(ApiError::NotFound)?;
            let before_view = queries::personalise(before, admin, 0)?;
            let view = queries::personalise(after, admin, 0)?;
            let change = Change::new("product.updated", "product", id)
                .before(&before_view)
                .after(&view);
            Ok((view, change))
        })
        .await?;
    Ok(web::Json(view))
}

/// Product `id` of the admin's group as it stands, its row held for the change: so `before` is
/// the row the update replaces, and two PATCHes of one product's limit never both compare
/// against the same old one.
async fn held_for_change(
    conn: &mut diesel_async::AsyncPgConnection,
    admin: &CurrentUser,
    id: ProductId,
) -> Result<queries::PricedRow, ApiError> {
    products::table
        .find(id)
        .select(products::id)
        .for_update()
        .execute(conn)
        .await?;
    queries::find_product(conn, admin.group_id, id, admin.tier_id)
        .await?
        .ok_or(ApiError::NotFound)
}

/// After `patch` set `before`'s purchase limit, or moved it to the other period: what each
/// employee bought in the current period is counted again from the orders
/// ([`crate::ledger::recount_limit`]), orders placed before the limit existed included. A new
/// quantity over the same period needs no recount: that period's usage has been counted since
/// the limit was set (and a recount would hold the product's row through a whole period's
/// lines in the middle of a sale).
async fn recount_if_limit_moved(
    conn: &mut diesel_async::AsyncPgConnection,
    (admin, now): (&CurrentUser, chrono::DateTime<chrono::Utc>),
    before: &queries::ProductRow,
    patch: &ProductPatch,
) -> Result<(), ApiError> {
    let Some(Some(limit)) = &patch.purchase_limit else {
        return Ok(());
    };
    if before.purchase_limit_period == Some(limit.period) {
        return Ok(());
    }
    let zone = admin.zone;
    crate::ledger::recount_limit(
        conn,
        (admin.group_id, before.id),
        limit.period,
        (zone, zone.today(now)),
    )
    .await?;
    Ok(())
}

/// Adjust stock on hand by `delta` with a reason (admin); never below zero (409).
#[utoipa::path(
    tag = "catalog", params(crate::idempotency::OptionalKeyParam, ("id" = Uuid, Path)),
    request_body = StockAdjustment, security(("bearer" = ["admin"])),
    responses(
        (status = 200, body = ProductView),
        (
            status = 409,
            description = "insufficient_stock: the result would be negative; or request_in_progress"
        ),
        (status = 422, description = "Invalid fields, or idempotency_key_reused")
    )
)]
#[post("/products/{id}/stock")]
pub async fn adjust_stock(
    admin: Authorized<Admin>,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    request: Keyed<StockAdjustment>,
) -> Result<HttpResponse, ApiError> {
    let id = ProductId::from(id.into_inner());
    let (adjustment, once) = request.parse_at("POST /products/{id}/stock", &id)?;
    let mut errors = Vec::new();
    if adjustment.delta == 0 {
        errors.push(FieldError::new("delta", "must not be zero"));
    }
    validation::stock_bound("delta", adjustment.delta, &mut errors);
    if !errors.is_empty() {
        return Err(ApiError::invalid(errors));
    }
    let mut conn = state.pool.get().await?;
    let admin = &admin.user;
    let changes = &state.changes;
    once.run(&mut conn, admin.id, async move |conn| {
        let moved = Changed::Stock {
            products: &[id],
            buyer: None,
        };
        let view = write::by(admin, admin.group_id)
            .publishes(moved)
            .run(conn, changes, async move |conn| {
                let (before, after) = adjust(conn, admin.group_id, id, adjustment.delta).await?;
                let change = Change::new("product.stock_adjusted", "product", id)
                    .before(&serde_json::json!({"stock_on_hand": before}))
                    .after(&serde_json::json!({
                        "stock_on_hand": after,
                        "delta": adjustment.delta,
                        "reason": adjustment.reason.stored(),
                    }));
                let priced = queries::find_product(conn, admin.group_id, id, admin.tier_id)
                    .await?
                    .ok_or(ApiError::NotFound)?;
                Ok((queries::personalise(priced, admin, 0)?, change))
            })
            .await?;
        Ok((StatusCode::OK, crate::json::to_value(&view)?))
    })
    .await
}

/// Moves product `id`'s stock by `delta` in one conditional update, so that concurrent
/// adjustments and orders can never drive it below zero or above the bound; answers the stock
/// before and after. Refused: no such product (404), above the bound (422), below zero (409
/// `insufficient_stock`).
async fn adjust(
    conn: &mut AsyncPgConnection,
    group: GroupId,
    id: ProductId,
    delta: i32,
) -> Result<(i32, i32), ApiError> {
    // Both operands are within ±1e9, so the sum fits PostgreSQL's integer.
    let within = (products::stock_on_hand + delta).between(0, validation::MAX_STOCK);
    let updated: Option<(i32, i32)> = diesel::update(
        products::table
            .find(id)
            .filter(products::group_id.eq(group))
            .filter(within),
    )
    .set((
        products::stock_on_hand.eq(products::stock_on_hand + delta),
        products::updated_at.eq(diesel::dsl::now),
    ))
    .returning((products::stock_on_hand - delta, products::stock_on_hand))
    .get_result(conn)
    .await
    .optional()?;
    if let Some(moved) = updated {
        return Ok(moved);
    }
    let stock: Option<i32> = products::table
        .find(id)
        .filter(products::group_id.eq(group))
        .select(products::stock_on_hand)
        .first(conn)
        .await
        .optional()?;
    Err(match stock {
        None => ApiError::NotFound,
        Some(stock) if delta > 0 && stock > validation::MAX_STOCK - delta => {
            ApiError::invalid_field(
                "delta",
                format!(
                    "stock after the adjustment would exceed {}",
                    validation::MAX_STOCK
                ),
            )
        }
        Some(_) => ApiError::conflict(
            "insufficient_stock",
            "the adjustment would make stock negative",
        ),
    })
}
