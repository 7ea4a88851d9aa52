//! Database work for the catalog: rows, tier terms, the personalised listing.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncConnection as _, AsyncPgConnection, RunQueryDsl};
use rust_decimal::Decimal;
use uuid::Uuid;

use super::dto::*;
use crate::db::functions::lower;
use crate::db::schema::{categories, companies, discount_tiers, products, tier_category_discounts};
use crate::domain::codes::CurrencyCode;
use crate::domain::money::{self, Money};
use crate::domain::pricing;
use crate::error::ApiError;
use crate::identity::auth::{CurrentUser, Role};
use crate::identity::dto::EmploymentType;
use crate::ids::{GroupId, ProductId};

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = categories)]
pub struct CategoryRow {
    pub id: Uuid,
    pub code: String,
    pub name: String,
    pub created_at: DateTime<Utc>,
}

impl From<CategoryRow> for CategoryView {
    fn from(row: CategoryRow) -> Self {
        Self {
            id: row.id,
            code: row.code,
            name: row.name,
            created_at: row.created_at,
        }
    }
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = discount_tiers)]
pub struct TierRow {
    pub id: Uuid,
    pub code: String,
    pub name: String,
    pub discount_percent: Decimal,
    pub annual_allowance: Option<Decimal>,
    pub eligible_employment_types: Vec<Option<EmploymentType>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

pub fn employment_types(raw: &[Option<EmploymentType>]) -> Vec<EmploymentType> {
    raw.iter().flatten().copied().collect()
}

/// A tier as answered: its allowance in the group currency `currency`, in its minor units.
pub fn tier_view(
    row: TierRow,
    overrides: Vec<(Uuid, Decimal)>,
    currency: CurrencyCode,
) -> TierView {
    TierView {
        id: row.id,
        code: row.code,
        name: row.name,
        discount_percent: pricing::format_percent(row.discount_percent),
        annual_allowance: row.annual_allowance.map(|a| money::format(a, currency)),
        currency: currency.to_string(),
        eligible_employment_types: employment_types(&row.eligible_employment_types),
        category_discounts: overrides
            .into_iter()
            .map(|(category_id, percent)| CategoryDiscountView {
                category_id,
                discount_percent: pricing::format_percent(percent),
            })
            .collect(),
        created_at: row.created_at,
        updated_at: row.updated_at,
    }
}

/// Overrides of the given tiers, in one query.
pub async fn overrides_of(
    conn: &mut AsyncPgConnection,
    tiers: &[Uuid],
) -> QueryResult<HashMap<Uuid, Vec<(Uuid, Decimal)>>> {
    let rows: Vec<(Uuid, Uuid, Decimal)> = tier_category_discounts::table
        .filter(tier_category_discounts::tier_id.eq_any(tiers))
        .select((
            tier_category_discounts::tier_id,
            tier_category_discounts::category_id,
            tier_category_discounts::discount_percent,
        ))
        .order((
            tier_category_discounts::tier_id,
            tier_category_discounts::category_id,
        ))
        .load(conn)
        .await?;
    let mut map: HashMap<Uuid, Vec<(Uuid, Decimal)>> = HashMap::new();
    for (tier, category, percent) in rows {
        map.entry(tier).or_default().push((category, percent));
    }
    Ok(map)
}

/// The tier `id` of `group` with its overrides (404 for another group's).
pub async fn load_tier_view(
    conn: &mut AsyncPgConnection,
    group: GroupId,
    id: Uuid,
) -> Result<TierView, ApiError> {
    let row: TierRow = discount_tiers::table
        .find(id)
        .filter(discount_tiers::group_id.eq(group))
        .select(TierRow::as_select())
        .first(conn)
        .await
        .optional()?
        .ok_or(ApiError::NotFound)?;
    let mut overrides = overrides_of(conn, &[id]).await?;
    let currency = crate::identity::queries::group_currency(conn, group).await?;
    Ok(tier_view(
        row,
        overrides.remove(&id).unwrap_or_default(),
        currency,
    ))
}

#[derive(Debug, Clone, Queryable, Selectable, QueryableByName)]
#[diesel(table_name = products)]
pub struct ProductRow {
    pub id: ProductId,
    pub sku: String,
    pub name: String,
    pub description: String,
    pub category_id: Uuid,
    pub seller_company_id: Uuid,
    pub kind: ProductKind,
    pub list_price: Decimal,
    pub unit_cost: Decimal,
    pub stock_on_hand: i32,
    pub employee_eligible: bool,
    pub intercompany_eligible: bool,
    pub offered_to_customers: bool,
    pub active: bool,
    pub purchase_limit_quantity: Option<i32>,
    pub purchase_limit_period: Option<LimitPeriod>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A product with what an employee's pricing needs besides the row.
#[derive(Debug, Clone, Queryable)]
pub struct PricedRow {
    pub product: ProductRow,
    /// The seller's currency.
    pub currency: CurrencyCode,
    /// The seller's group.
    pub seller_group_id: GroupId,
    /// The caller's tier override for the product's category (if any).
    pub category_override: Option<Decimal>,
}

/// The purchase-limited products among `rows`, with their periods.
pub fn limited(rows: &[PricedRow]) -> Vec<(ProductId, LimitPeriod)> {
    rows.iter()
        .filter_map(|row| {
            row.product
                .purchase_limit_period
                .map(|period| (row.product.id, period))
        })
        .collect()
}

impl PricedRow {
    /// The facts the eligibility rule reads, for an employee of `group`.
    pub fn offer(&self, group: GroupId) -> pricing::Offer {
        pricing::Offer {
            active: self.product.active,
            employee_eligible: self.product.employee_eligible,
            same_group: self.seller_group_id == group,
        }
    }
}

/// What a product looks like to `user`: personal discount and price, remaining purchase limit,
/// and the admin fields for admins. `used` is the quantity already bought in the limit period.
pub fn personalise(
    priced: PricedRow,
    user: &CurrentUser,
    used: i32,
) -> Result<ProductView, ApiError> {
    // Admins also see what employees cannot buy; its employee price is shown undiscounted
    // unless the product is offered to employees at all.
    let percent = if priced.product.employee_eligible {
        pricing::discount_percent(
            user.tier.as_ref(),
            user.employment_type,
            priced.category_override,
        )
    } else {
        Decimal::ZERO
    };
    let PricedRow {
        product: row,
        currency: code,
        ..
    } = priced;
    let price = pricing::employee_unit_price(Money::new(row.list_price, code), percent)?;
    let purchase_limit = match (row.purchase_limit_quantity, row.purchase_limit_period) {
        (Some(max_quantity), Some(period)) => Some(PurchaseLimitView {
            max_quantity,
            period,
            remaining: max_quantity.saturating_sub(used).max(0),
        }),
        _ => None,
    };
    let admin = user.has(Role::Admin).then(|| ProductAdminFields {
        unit_cost: money::format(row.unit_cost, code),
        stock_on_hand: row.stock_on_hand,
        employee_eligible: row.employee_eligible,
        intercompany_eligible: row.intercompany_eligible,
        offered_to_customers: row.offered_to_customers,
        active: row.active,
        created_at: row.created_at,
        updated_at: row.updated_at,
    });
    Ok(ProductView {
        id: row.id.into(),
        sku: row.sku,
        name: row.name,
        description: row.description,
        category_id: row.category_id,
        seller_company_id: row.seller_company_id,
        currency: code.to_string(),
        kind: row.kind,
        list_price: price.list_price.to_string(),
        employee_price: price.employee_price.to_string(),
        discount_percent: pricing::format_percent(percent),
        stock_available: row.stock_on_hand,
        purchase_limit,
        admin,
    })
}

/// The caller's tier override for each product's category, as a nullable column.
macro_rules! with_override {
    ($query:expr, $tier:expr) => {
        $query.left_join(
            tier_category_discounts::table.on(tier_category_discounts::category_id
                .eq(products::category_id)
                .and(tier_category_discounts::tier_id.nullable().eq($tier))),
        )
    };
}

/// The columns of a `PricedRow`.
macro_rules! priced_columns {
    () => {
        (
            ProductRow::as_select(),
            companies::currency,
            companies::group_id,
            tier_category_discounts::discount_percent.nullable(),
        )
    };
}

/// One product of `group` priced for an employee of `tier` (`None`: no tier).
pub async fn find_product(
    conn: &mut AsyncPgConnection,
    group: GroupId,
    id: ProductId,
    tier: Option<Uuid>,
) -> QueryResult<Option<PricedRow>> {
    with_override!(products::table.inner_join(companies::table), tier)
        .filter(products::id.eq(id))
        .filter(products::group_id.eq(group))
        .select(priced_columns!())
        .get_result(conn)
        .await
        .optional()
}

/// Several products of `group` priced for an employee of `tier`.
pub async fn find_products(
    conn: &mut AsyncPgConnection,
    group: GroupId,
    ids: &[ProductId],
    tier: Option<Uuid>,
) -> QueryResult<Vec<PricedRow>> {
    with_override!(products::table.inner_join(companies::table), tier)
        .filter(products::id.eq_any(ids))
        .filter(products::group_id.eq(group))
        .select(priced_columns!())
        .load(conn)
        .await
}

/// Escapes LIKE wildcards so `q` is matched literally.
fn like_pattern(q: &str) -> String {
    let escaped = q
        .to_lowercase()
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    format!("%{escaped}%")
}

/// The employee listing without optional filters: one static query shape, so the database
/// keeps its prepared plan (the first page binds `after = ''`, which sorts before every valid sku).
macro_rules! base_listing {
    ($group:expr, $tier:expr, $after:expr, $fetch:expr) => {
        with_override!(products::table.inner_join(companies::table), $tier)
            // Plain boolean columns, not `= $n`: the partial indexes match even a generic plan.
            .filter(products::active)
            .filter(products::employee_eligible)
            .filter(products::group_id.eq($group))
            .filter(products::sku.gt($after))
            .select(priced_columns!())
            .order(products::sku.asc())
            .limit($fetch)
    };
}

/// The listing with filters (boxed: its shape depends on which filters are given).
macro_rules! filtered_listing {
    ($group:expr, $tier:expr, $query:expr, $after:expr, $fetch:expr) => {{
        let mut sql = base_listing!($group, $tier, $after, $fetch).into_boxed::<diesel::pg::Pg>();
        if let Some(category) = $query.category_id {
            sql = sql.filter(products::category_id.eq(category));
        }
        if let Some(seller) = $query.seller_company_id {
            sql = sql.filter(products::seller_company_id.eq(seller));
        }
        if let Some(pattern) = search_pattern($query) {
            sql = sql.filter(
                lower(products::name)
                    .like(pattern.clone())
                    .or(lower(products::sku).like(pattern)),
            );
        }
        sql
    }};
}

fn search_pattern(query: &ProductListQuery) -> Option<String> {
    query
        .q
        .as_deref()
        .map(str::trim)
        .filter(|q| !q.is_empty())
        .map(like_pattern)
}

/// Whether the listing query searches by name or sku (`q` with more than blanks).
pub fn is_search(query: &ProductListQuery) -> bool {
    search_pattern(query).is_some()
}

fn has_filters(query: &ProductListQuery) -> bool {
    query.category_id.is_some()
        || query.seller_company_id.is_some()
        || search_pattern(query).is_some()
}

/// One page of the products an employee of `group` may buy, in sku order after `after`.
pub async fn visible_products(
    conn: &mut AsyncPgConnection,
    group: GroupId,
    tier: Option<Uuid>,
    query: &ProductListQuery,
    after: Option<&str>,
    fetch: i64,
) -> QueryResult<Vec<PricedRow>> {
    let after = after.unwrap_or("").to_owned();
    if search_pattern(query).is_some() {
        // A search is only fast with a plan made for its pattern (trigram indexes for a
        // selective one); connections otherwise reuse generic plans (src/db/mod.rs).
        conn.transaction::<_, diesel::result::Error, _>(async move |conn| {
            diesel::sql_query("SET LOCAL plan_cache_mode = force_custom_plan")
                .execute(conn)
                .await?;
            filtered_listing!(group, tier, query, after, fetch)
                .load(conn)
                .await
        })
        .await
    } else if has_filters(query) {
        filtered_listing!(group, tier, query, after, fetch)
            .load(conn)
            .await
    } else {
        base_listing!(group, tier, after, fetch).load(conn).await
    }
}

/// The listing's SQL with `$n` placeholders, as it runs. Bind order: the tier, the group,
/// the cursor (`''` on the first page), then category, seller and the
/// search pattern (twice) — each only when given — and the limit. Used to EXPLAIN the real query.
pub fn listing_sql(
    group: GroupId,
    tier: Option<Uuid>,
    query: &ProductListQuery,
    after: Option<&str>,
    fetch: i64,
) -> String {
    let after = after.unwrap_or("").to_owned();
    let text = if has_filters(query) {
        diesel::debug_query::<diesel::pg::Pg, _>(&filtered_listing!(
            group, tier, query, after, fetch
        ))
        .to_string()
    } else {
        diesel::debug_query::<diesel::pg::Pg, _>(&base_listing!(group, tier, after, fetch))
            .to_string()
    };
    text.split(" -- binds:")
        .next()
        .unwrap_or_default()
        .to_owned()
}

#[cfg(test)]
mod tests {
    #[test]
    fn search_patterns_are_literal() {
        assert_eq!(super::like_pattern("50%_Off"), "%50\\%\\_off%");
    }
}
