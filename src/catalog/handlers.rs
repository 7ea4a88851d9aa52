//! Category and discount-tier endpoints (admin writes; tiers also for finance to read).
//! and stock adjustments.

use actix_web::http::StatusCode;
use actix_web::{get, patch, post, put, web, HttpResponse};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use rust_decimal::Decimal;
use uuid::Uuid;

use super::dto::*;
use super::queries::{self, CategoryRow, TierRow};
use crate::audit::Change;
use crate::body::Body;
use crate::changes::Changed;
use crate::db::schema::{categories, discount_tiers, tier_category_discounts};
use crate::domain::codes::CurrencyCode;
use crate::error::{ApiError, FieldError};
use crate::fields::{Name, Percent};
use crate::idempotency::Keyed;
use crate::identity::auth::{Admin, AdminOrFinance, Authorized, CurrentUser};
use crate::identity::dto::EmploymentType;
use crate::pagination::{Page, PageQuery};
use crate::state::AppState;
use crate::validation::amount;
use crate::write;

// ---------------------------------------------------------------------------------------------
// Categories

/// List the categories of the caller's group, ordered by code.
#[utoipa::path(
    tag = "catalog", params(PageQuery), security(("bearer" = [])),
    responses((status = 200, body = Page<CategoryView>))
)]
#[get("/categories")]
pub async fn list_categories(
    user: CurrentUser,
    state: web::Data<AppState>,
    query: crate::json::Query<PageQuery>,
) -> Result<web::Json<Page<CategoryView>>, ApiError> {
    let page = query.page::<String>()?;
    let mut sql = categories::table
        .filter(categories::group_id.eq(user.group_id))
        .select(CategoryRow::as_select())
        .order(categories::code.asc())
        .limit(page.fetch())
        .into_boxed();
    if let Some(after) = &page.after {
        sql = sql.filter(categories::code.gt(after));
    }
    let mut conn = state.pool.get().await?;
    let rows = sql.load(&mut conn).await?;
    let views = rows.into_iter().map(CategoryView::from).collect();
    Ok(web::Json(page.of(views, |c: &CategoryView| c.code.clone())))
}

/// Create a category (admin).
#[utoipa::path(
    tag = "catalog", params(crate::idempotency::OptionalKeyParam), request_body = NewCategory,
    security(("bearer" = ["admin"])),
    responses(
        (status = 201, body = CategoryView),
        (status = 409, description = "Code taken, or request_in_progress"),
        (status = 422, description = "Invalid fields, or idempotency_key_reused")
    )
)]
#[post("/categories")]
pub async fn create_category(
    admin: Authorized<Admin>,
    state: web::Data<AppState>,
    request: Keyed<NewCategory>,
) -> Result<HttpResponse, ApiError> {
    let (new, once) = request.parse("POST /categories")?;
    let admin = &admin.user;
    let group = admin.group_id;
    let mut conn = state.pool.get().await?;
    let changes = &state.changes;
    once.run(&mut conn, admin.id, async move |conn| {
        let view = write::by(admin, group)
            .conflict(
                "code",
                "another category of this group already uses this code",
            )
            .run(conn, changes, async move |conn| {
                let row: CategoryRow = diesel::insert_into(categories::table)
                    .values((
                        categories::group_id.eq(group),
                        categories::code.eq(new.code.as_str()),
                        categories::name.eq(new.name.stored()),
                    ))
                    .returning(CategoryRow::as_returning())
                    .get_result(conn)
                    .await?;
                let view = CategoryView::from(row);
                let change = Change::new("category.created", "category", view.id).after(&view);
                Ok((view, change))
            })
            .await?;
        Ok((StatusCode::CREATED, crate::json::to_value(&view)?))
    })
    .await
}

// ---------------------------------------------------------------------------------------------
// Discount tiers

/// The stored form of a tier's employment types: each once, in their spelling's order.
fn employment_column(types: &[EmploymentType]) -> Vec<Option<EmploymentType>> {
    let mut types = types.to_vec();
    types.sort_unstable_by_key(|t| t.as_str());
    types.dedup();
    types.into_iter().map(Some).collect()
}

/// The columns a tier PATCH sets; `None` leaves a column as it is.
#[derive(AsChangeset)]
#[diesel(table_name = discount_tiers)]
struct TierChanges<'a> {
    code: Option<&'a str>,
    name: Option<&'a str>,
    discount_percent: Option<Decimal>,
    annual_allowance: Option<Option<Decimal>>,
    eligible_employment_types: Option<Vec<Option<EmploymentType>>>,
}

/// The group currency of `user`, in which tier allowances are set.
async fn group_currency(
    conn: &mut diesel_async::AsyncPgConnection,
    user: &CurrentUser,
) -> Result<CurrencyCode, ApiError> {
    Ok(crate::identity::queries::group_currency(conn, user.group_id).await?)
}

fn allowance(raw: &str, currency: CurrencyCode, errors: &mut Vec<FieldError>) -> Option<Decimal> {
    amount("annual_allowance", raw, currency, errors)
}

/// List the discount tiers of the caller's group with their category overrides (admin,
/// finance).
#[utoipa::path(
    tag = "catalog", params(PageQuery), security(("bearer" = ["admin", "finance"])),
    responses((status = 200, body = Page<TierView>))
)]
#[get("/discount-tiers")]
pub async fn list_tiers(
    caller: Authorized<AdminOrFinance>,
    state: web::Data<AppState>,
    query: crate::json::Query<PageQuery>,
) -> Result<web::Json<Page<TierView>>, ApiError> {
    let page = query.page::<String>()?;
    let mut sql = discount_tiers::table
        .filter(discount_tiers::group_id.eq(caller.group_id))
        .select(TierRow::as_select())
        .order(discount_tiers::code.asc())
        .limit(page.fetch())
        .into_boxed();
    if let Some(after) = &page.after {
        sql = sql.filter(discount_tiers::code.gt(after));
    }
    let mut conn = state.pool.get().await?;
    let rows = sql.load(&mut conn).await?;
    let ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
    let mut overrides = queries::overrides_of(&mut conn, &ids).await?;
    let currency = group_currency(&mut conn, &caller).await?;
    let views = rows
        .into_iter()
        .map(|row| {
            let own = overrides.remove(&row.id).unwrap_or_default();
            queries::tier_view(row, own, currency)
        })
        .collect();
    Ok(web::Json(page.of(views, |t: &TierView| t.code.clone())))
}

/// Create a discount tier (admin).
#[utoipa::path(
    tag = "catalog", params(crate::idempotency::OptionalKeyParam), request_body = NewTier,
    security(("bearer" = ["admin"])),
    responses(
        (status = 201, body = TierView),
        (status = 409, description = "Code taken, or request_in_progress"),
        (status = 422, description = "Invalid fields, or idempotency_key_reused")
    )
)]
#[post("/discount-tiers")]
pub async fn create_tier(
    admin: Authorized<Admin>,
    state: web::Data<AppState>,
    request: Keyed<NewTier>,
) -> Result<HttpResponse, ApiError> {
    let (new, once) = request.parse("POST /discount-tiers")?;
    let mut errors = Vec::new();
    let percent = new.discount_percent.value();
    let mut conn = state.pool.get().await?;
    let admin = &admin.user;
    let currency = group_currency(&mut conn, admin).await?;
    let cap = new
        .annual_allowance
        .as_deref()
        .and_then(|raw| allowance(raw, currency, &mut errors));
    let eligible = new
        .eligible_employment_types
        .clone()
        .unwrap_or_else(|| vec![EmploymentType::Direct, EmploymentType::Outsourced]);
    if !errors.is_empty() {
        return Err(ApiError::invalid(errors));
    }
    let changes = &state.changes;
    once.run(&mut conn, admin.id, async move |conn| {
        let view = write::by(admin, admin.group_id)
            .conflict("code", "another tier of this group already uses this code")
            .run(conn, changes, async move |conn| {
                let row: TierRow = diesel::insert_into(discount_tiers::table)
                    .values((
                        discount_tiers::group_id.eq(admin.group_id),
                        discount_tiers::code.eq(new.code.as_str()),
                        discount_tiers::name.eq(new.name.stored()),
                        discount_tiers::discount_percent.eq(percent),
                        discount_tiers::annual_allowance.eq(cap),
                        discount_tiers::eligible_employment_types.eq(employment_column(&eligible)),
                    ))
                    .returning(TierRow::as_returning())
                    .get_result(conn)
                    .await?;
                let view = queries::tier_view(row, Vec::new(), currency);
                let change =
                    Change::new("discount_tier.created", "discount_tier", view.id).after(&view);
                Ok((view, change))
            })
            .await?;
        Ok((StatusCode::CREATED, crate::json::to_value(&view)?))
    })
    .await
}

/// Change a discount tier (admin).
#[utoipa::path(
    tag = "catalog", params(("id" = Uuid, Path)), request_body = TierPatch,
    security(("bearer" = ["admin"])),
    responses((status = 200, body = TierView), (status = 409, description = "Code taken"))
)]
#[patch("/discount-tiers/{id}")]
pub async fn update_tier(
    admin: Authorized<Admin>,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    body: Body<TierPatch>,
) -> Result<web::Json<TierView>, ApiError> {
    let id = id.into_inner();
    let patch = body.into_inner()?;
    let mut errors = Vec::new();
    let percent = patch.discount_percent.as_ref().map(Percent::value);
    let mut conn = state.pool.get().await?;
    let admin = &admin.user;
    let cap = match &patch.annual_allowance {
        Some(Some(raw)) => Some(allowance(
            raw,
            group_currency(&mut conn, admin).await?,
            &mut errors,
        )),
        Some(None) => Some(None),
        None => None,
    };
    if !errors.is_empty() {
        return Err(ApiError::invalid(errors));
    }
    let view = write::by(admin, admin.group_id)
        .conflict("code", "another tier of this group already uses this code")
        .publishes(Changed::Definitions)
        .run(&mut conn, &state.changes, async move |conn| {
            let before = queries::load_tier_view(conn, admin.group_id, id).await?;
            let changes = TierChanges {
                code: patch.code.as_deref(),
                name: patch.name.as_ref().map(Name::stored),
                discount_percent: percent,
                annual_allowance: cap,
                eligible_employment_types: patch
                    .eligible_employment_types
                    .as_deref()
                    .map(employment_column),
            };
            diesel::update(
                discount_tiers::table
                    .find(id)
                    .filter(discount_tiers::group_id.eq(admin.group_id)),
            )
            .set((changes, discount_tiers::updated_at.eq(diesel::dsl::now)))
            .execute(conn)
            .await?;
            let view = queries::load_tier_view(conn, admin.group_id, id).await?;
            let change = Change::new("discount_tier.updated", "discount_tier", id)
                .before(&before)
                .after(&view);
            Ok((view, change))
        })
        .await?;
    Ok(web::Json(view))
}

/// Set a tier's discount for one category (admin); replaces any previous override.
#[utoipa::path(
    tag = "catalog", params(("id" = Uuid, Path), ("category_id" = Uuid, Path)),
    request_body = CategoryDiscount, security(("bearer" = ["admin"])),
    responses((status = 200, body = TierView))
)]
#[put("/discount-tiers/{id}/categories/{category_id}")]
pub async fn put_category_discount(
    admin: Authorized<Admin>,
    state: web::Data<AppState>,
    path: web::Path<(Uuid, Uuid)>,
    body: Body<CategoryDiscount>,
) -> Result<web::Json<TierView>, ApiError> {
    let (tier, category) = path.into_inner();
    let body = body.into_inner()?;
    let percent = body.discount_percent.value();
    let mut conn = state.pool.get().await?;
    let admin = &admin.user;
    let view = write::by(admin, admin.group_id)
        .publishes(Changed::Definitions)
        .run(&mut conn, &state.changes, async move |conn| {
            let before = queries::load_tier_view(conn, admin.group_id, tier).await?;
            let category_exists: bool = diesel::select(diesel::dsl::exists(
                categories::table
                    .find(category)
                    .filter(categories::group_id.eq(admin.group_id)),
            ))
            .get_result(conn)
            .await?;
            if !category_exists {
                return Err(ApiError::NotFound);
            }
            diesel::insert_into(tier_category_discounts::table)
                .values((
                    tier_category_discounts::group_id.eq(admin.group_id),
                    tier_category_discounts::tier_id.eq(tier),
                    tier_category_discounts::category_id.eq(category),
                    tier_category_discounts::discount_percent.eq(percent),
                ))
                .on_conflict((
                    tier_category_discounts::tier_id,
                    tier_category_discounts::category_id,
                ))
                .do_update()
                .set(tier_category_discounts::discount_percent.eq(percent))
                .execute(conn)
                .await?;
            let view = queries::load_tier_view(conn, admin.group_id, tier).await?;
            let change = Change::new("discount_tier.category_discount_set", "discount_tier", tier)
                .before(&before)
                .after(&view);
            Ok((view, change))
        })
        .await?;
    Ok(web::Json(view))
}
