//! Placing, cancelling and fulfilling employee orders. Locks are always taken in one order —
//! products by id, then the employee's allowance row, then purchase-limit rows — so concurrent
//! orders never deadlock, and every invariant is also held by a conditional update or a CHECK.

use std::collections::HashMap;

use chrono::{DateTime, Datelike, NaiveDate, SubsecRound, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Array, Integer, Jsonb, Nullable, Numeric, Text, Timestamptz};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use rust_decimal::Decimal;
use uuid::Uuid;

use super::dto::*;
use super::idempotency::{self, IdempotencyKey, Stored};
use crate::catalog::queries::{self as catalog, PricedRow};
use crate::db::schema::{allowance_usage, order_lines, orders, products, purchase_limit_usage};
use crate::db::statement::statement;
use crate::domain::allowance::{self, LineInput, PricedOrder};
use crate::domain::codes::CurrencyCode;
use crate::domain::{money, pricing};
use crate::error::{ApiError, FieldError};
use crate::identity::auth::{CurrentUser, Subject, UserRecord};

/// First day of the purchase-limit period containing `day`.
pub fn period_start(period: &str, day: NaiveDate) -> NaiveDate {
    let first = if period == "year" {
        NaiveDate::from_ymd_opt(day.year(), 1, 1)
    } else {
        NaiveDate::from_ymd_opt(day.year(), day.month(), 1)
    };
    first.unwrap_or(day)
}

/// Quantity the employee already bought of each limited product in its current period.
pub async fn limit_usage(
    conn: &mut AsyncPgConnection,
    employee: Uuid,
    rows: &[PricedRow],
) -> QueryResult<HashMap<Uuid, i32>> {
    let limited: Vec<(Uuid, &str)> = rows
        .iter()
        .filter_map(|(p, _, _, _)| {
            p.purchase_limit_period
                .as_deref()
                .map(|period| (p.id, period))
        })
        .collect();
    if limited.is_empty() {
        return Ok(HashMap::new());
    }
    let usage = employee_limit_usage(conn, employee).await?;
    let today = Utc::now().date_naive();
    Ok(limited
        .into_iter()
        .map(|(id, period)| (id, used_in_period(&usage, id, period, today)))
        .collect())
}

/// Everything an employee bought of purchase-limited products this year, for
/// [`used_in_period`].
pub async fn employee_limit_usage(
    conn: &mut AsyncPgConnection,
    employee: Uuid,
) -> QueryResult<Vec<(Uuid, NaiveDate, i32)>> {
    let today = Utc::now().date_naive();
    purchase_limit_usage::table
        .filter(purchase_limit_usage::employee_id.eq(employee))
        .filter(
            purchase_limit_usage::period_start
                .ge(NaiveDate::from_ymd_opt(today.year(), 1, 1).unwrap_or(today)),
        )
        .select((
            purchase_limit_usage::product_id,
            purchase_limit_usage::period_start,
            purchase_limit_usage::quantity,
        ))
        .load(conn)
        .await
}

/// The quantity of `product` in `usage` that counts against its limit in the period
/// (`month` | `year`) containing `today`.
pub fn used_in_period(
    usage: &[(Uuid, NaiveDate, i32)],
    product: Uuid,
    period: &str,
    today: NaiveDate,
) -> i32 {
    let start = period_start(period, today);
    usage
        .iter()
        .filter(|(id, from, _)| *id == product && *from == start)
        .map(|(_, _, quantity)| quantity)
        .sum()
}

/// The allowance used by an employee in a year (group currency).
pub async fn allowance_used(
    conn: &mut AsyncPgConnection,
    employee: Uuid,
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

/// A validated request: distinct products, quantities in range.
pub struct Requested {
    pub lines: Vec<(Uuid, u32)>,
}

pub fn validate(request: &NewOrder) -> Result<Requested, ApiError> {
    let mut errors = Vec::new();
    if request.lines.is_empty() || request.lines.len() > 50 {
        errors.push(FieldError::new("lines", "must hold 1–50 lines"));
    }
    let mut seen = HashMap::new();
    let mut lines = Vec::with_capacity(request.lines.len());
    for (index, line) in request.lines.iter().enumerate() {
        if !(1..=1000).contains(&line.quantity) {
            errors.push(FieldError::new(
                format!("lines[{index}].quantity"),
                "must be between 1 and 1000",
            ));
        }
        if seen.insert(line.product_id, index).is_some() {
            errors.push(FieldError::new(
                format!("lines[{index}].product_id"),
                "appears on more than one line",
            ));
        }
        lines.push((line.product_id, u32::try_from(line.quantity).unwrap_or(0)));
    }
    if errors.is_empty() {
        Ok(Requested { lines })
    } else {
        Err(ApiError::invalid(errors))
    }
}

/// Everything needed to price a request.
pub struct Context {
    pub rows: Vec<PricedRow>,
    pub seller: Uuid,
    pub currency: CurrencyCode,
    pub group_currency: CurrencyCode,
    pub fx_rate: Decimal,
    pub cap: Option<Decimal>,
    pub inputs: Vec<LineInput>,
}

/// Reads the products of a request and the group currency (for a quote: nothing is locked).
pub async fn context(
    conn: &mut AsyncPgConnection,
    user: &CurrentUser,
    request: &Requested,
) -> Result<Context, ApiError> {
    let ids: Vec<Uuid> = request.lines.iter().map(|(id, _)| *id).collect();
    let found: Vec<PricedRow> =
        catalog::find_products(conn, user.group_id, &ids, user.tier_id).await?;
    let group_code = crate::identity::queries::group_currency(conn, user.group_id).await?;
    // The rate from the (first) seller's currency to the group's, on the order date.
    let fx_rate = match (
        <[_]>::first(&found).and_then(|row| CurrencyCode::parse(&row.1)),
        CurrencyCode::parse(&group_code),
    ) {
        (Some(from), Some(to)) if from != to => {
            crate::fx::queries::lookup(conn, user.group_id, from, to, Utc::now().date_naive())
                .await?
        }
        _ => None,
    };
    price_context(user, request, found, &group_code, fx_rate)
}

/// Checks that every requested product may be bought by `user` from one seller, and prepares
/// the pricing inputs in request order. `fx_rate` converts the seller's currency to the
/// group's on the order date (None: no rate is known).
pub fn price_context(
    user: &CurrentUser,
    request: &Requested,
    found: Vec<PricedRow>,
    group_code: &str,
    fx_rate: Option<Decimal>,
) -> Result<Context, ApiError> {
    let by_id: HashMap<Uuid, PricedRow> = found.into_iter().map(|row| (row.0.id, row)).collect();
    let mut rows = Vec::with_capacity(request.lines.len());
    for (index, (id, _)) in request.lines.iter().enumerate() {
        match by_id.get(id) {
            Some(row) if row.0.active && row.0.employee_eligible && row.2 == user.group_id => rows.push(row.clone()),
            _ => {
                return Err(ApiError::Rule {
                    status: actix_web::http::StatusCode::UNPROCESSABLE_ENTITY,
                    code: "not_eligible",
                    detail: format!("lines[{index}].product_id: this product cannot be bought by employees of your group"),
                })
            }
        }
    }
    let seller = <[_]>::first(&rows)
        .map(|r| r.0.seller_company_id)
        .ok_or_else(|| ApiError::invalid_field("lines", "must hold 1–50 lines"))?;
    if let Some(index) = rows.iter().position(|r| r.0.seller_company_id != seller) {
        return Err(ApiError::invalid_field(
            &format!("lines[{index}].product_id"),
            "all products of an order must come from one seller company",
        ));
    }
    let currency_code = <[_]>::first(&rows).map(|r| r.1.clone()).unwrap_or_default();
    let currency = CurrencyCode::parse(&currency_code)
        .ok_or_else(|| ApiError::internal("unknown seller currency"))?;
    let group_currency = CurrencyCode::parse(group_code)
        .ok_or_else(|| ApiError::internal("unknown group currency"))?;
    let fx_rate = if currency == group_currency {
        Decimal::ONE
    } else {
        fx_rate.ok_or_else(|| {
            crate::fx::queries::missing(currency, group_currency, Utc::now().date_naive())
        })?
    };
    let cap = user.tier_allowance;
    let inputs = rows
        .iter()
        .zip(&request.lines)
        .map(
            |((product, _, _, category_override), (_, quantity))| LineInput {
                product_id: product.id,
                quantity: *quantity,
                unit_list_price: product.list_price,
                discount_percent: pricing::discount_percent(
                    user.tier.as_ref(),
                    &user.employment_type,
                    *category_override,
                ),
            },
        )
        .collect();
    Ok(Context {
        rows,
        seller,
        currency,
        group_currency,
        fx_rate,
        cap,
        inputs,
    })
}

fn line_views(order: &PricedOrder, currency: CurrencyCode) -> Vec<OrderLineView> {
    order
        .lines
        .iter()
        .map(|l| OrderLineView {
            product_id: l.product_id,
            quantity: i32::try_from(l.quantity).unwrap_or(i32::MAX),
            unit_list_price: money::format(l.unit_list_price, currency),
            discount_percent: pricing::format_percent(l.discount_percent),
            line_list_total: money::format(l.line_list_total, currency),
            line_discount: money::format(l.line_discount, currency),
            line_total: money::format(l.line_total, currency),
        })
        .collect()
}

pub fn quote_view(user: &CurrentUser, ctx: &Context, order: &PricedOrder) -> QuoteView {
    QuoteView {
        employee_id: user.id,
        seller_company_id: ctx.seller,
        currency: ctx.currency.to_string(),
        lines: line_views(order, ctx.currency),
        list_total: money::format(order.list_total, ctx.currency),
        discount_total: money::format(order.discount_total, ctx.currency),
        total: money::format(order.total, ctx.currency),
        allowance_applied: money::format(order.allowance_applied, ctx.group_currency),
        allowance_currency: ctx.group_currency.to_string(),
        fx_rate: order.fx_rate.normalize().to_string(),
    }
}

fn limit_exceeded(sku: &str) -> ApiError {
    ApiError::conflict(
        "purchase_limit_exceeded",
        format!("{sku}: this would exceed your purchase limit for the period"),
    )
}

fn out_of_stock(sku: &str) -> ApiError {
    ApiError::conflict("insufficient_stock", format!("{sku}: not enough stock"))
}

/// Prices a request without changing anything; reports stock and limit problems as placing would.
pub async fn quote(
    conn: &mut AsyncPgConnection,
    user: &CurrentUser,
    request: &Requested,
) -> Result<QuoteView, ApiError> {
    let ctx = context(conn, user, request).await?;
    let used = allowance_used(conn, user.id, Utc::now().year()).await?;
    let order = allowance::price_order(
        &ctx.inputs,
        ctx.currency,
        ctx.group_currency,
        ctx.fx_rate,
        ctx.cap.map(|c| c.saturating_sub(used)),
    )?;
    let bought = limit_usage(conn, user.id, &ctx.rows).await?;
    for ((product, _, _, _), (_, quantity)) in ctx.rows.iter().zip(&request.lines) {
        let quantity = i32::try_from(*quantity).unwrap_or(i32::MAX);
        if let Some(max) = product.purchase_limit_quantity {
            if bought.get(&product.id).copied().unwrap_or(0) + quantity > max {
                return Err(limit_exceeded(&product.sku));
            }
        }
        if product.stock_on_hand < quantity {
            return Err(out_of_stock(&product.sku));
        }
    }
    Ok(quote_view(user, &ctx, &order))
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = orders)]
pub struct OrderRow {
    pub id: Uuid,
    pub number: String,
    pub status: String,
    pub employee_id: Uuid,
    pub seller_company_id: Uuid,
    pub currency: String,
    pub list_total: Decimal,
    pub discount_total: Decimal,
    pub total: Decimal,
    pub allowance_applied: Decimal,
    pub allowance_year: i32,
    pub group_currency: String,
    pub fx_rate: Decimal,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = order_lines)]
pub struct LineRow {
    pub order_id: Uuid,
    pub line_no: i32,
    pub product_id: Uuid,
    pub quantity: i32,
    pub unit_list_price: Decimal,
    pub discount_percent: Decimal,
    pub line_list_total: Decimal,
    pub line_discount: Decimal,
    pub line_total: Decimal,
    pub limit_period_start: Option<NaiveDate>,
}

/// What the read of a placement found: the employee, the response stored under the key, the
/// allowance used this year and the group currency — repeated on each row of a found product.
#[derive(QueryableByName)]
struct Head {
    #[diesel(embed)]
    user: UserRecord,
    #[diesel(sql_type = Nullable<Text>)]
    scope: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    request_hash: Option<String>,
    #[diesel(sql_type = Nullable<Integer>)]
    response_status: Option<i32>,
    #[diesel(sql_type = Nullable<Jsonb>)]
    response_body: Option<serde_json::Value>,
    #[diesel(sql_type = Numeric)]
    used: Decimal,
    #[diesel(sql_type = Text)]
    group_currency: String,
}

#[derive(QueryableByName)]
struct Read {
    #[diesel(embed)]
    head: Head,
    /// None when no requested product exists.
    #[diesel(embed)]
    found: Option<FoundRow>,
}

/// A requested product with what pricing needs.
#[derive(QueryableByName)]
struct FoundRow {
    #[diesel(embed)]
    product: catalog::ProductRow,
    #[diesel(sql_type = Text)]
    currency: String,
    #[diesel(sql_type = diesel::sql_types::Uuid)]
    seller_group_id: Uuid,
    #[diesel(sql_type = Nullable<Numeric>)]
    category_override: Option<Decimal>,
    /// The stored rate from the seller's currency to the group's on the order date, when
    /// they differ (see `fx_lookup`).
    #[diesel(sql_type = Nullable<Numeric>)]
    fx_stored_rate: Option<Decimal>,
    #[diesel(sql_type = Nullable<diesel::sql_types::Bool>)]
    fx_inverted: Option<bool>,
}

#[derive(QueryableByName)]
struct Written {
    #[diesel(sql_type = Text)]
    number: String,
}

/// The outcome of `place`.
pub enum Placed {
    /// The key already holds this request's response: replay it.
    Replay(Stored),
    /// A new order; the response body, as stored under the key.
    Created(serde_json::Value),
}

enum Attempt {
    Done(Placed),
    /// What the read saw changed before the write (the allowance, or the key was stored by a
    /// request that finished meanwhile): read and price again.
    Again,
}

/// How often a placement is re-read and re-priced when the employee's allowance moved under it
/// (their own concurrent orders) before giving up with 409.
const ATTEMPTS: usize = 20;

/// Places an order: two autocommit statements, no transaction held open across the network.
///
/// 1. Read, without locks: the signed-in employee (as the `CurrentUser` extractor would; no
///    row → 401), the response stored under the idempotency key, the allowance used this year,
///    the group currency and the requested products. Replays, key reuse, eligibility, pricing
///    and obvious shortages are decided here.
/// 2. Write, in one statement: claim the key (a transaction-scoped advisory lock), lock the
///    products in id order, take the stock (conditional), charge the allowance on condition
///    that it is still what was read, add purchase-limit quantities (conditional), insert the
///    order, its lines, the audit event and the idempotency record. Each step consumes the
///    previous one's result, so locks are always taken products → allowance row → limit rows.
///    When any conditional step falls short, `abort_statement` raises and the whole statement
///    rolls back; an allowance that moved is read and priced again.
pub async fn place(
    conn: &mut AsyncPgConnection,
    subject: &Subject,
    request: &Requested,
    key: &IdempotencyKey,
    scope: &str,
    hash: &str,
) -> Result<Placed, ApiError> {
    for _ in 0..ATTEMPTS {
        if let Attempt::Done(placed) = attempt(conn, subject, request, key, scope, hash).await? {
            return Ok(placed);
        }
    }
    Err(ApiError::conflict(
        "conflict",
        "your allowance kept changing while this order was placed; retry",
    ))
}

/// The reason `abort_statement` gave, if that is what ended the statement.
fn abort_reason(error: &diesel::result::Error) -> Option<&str> {
    match error {
        diesel::result::Error::DatabaseError(_, info) => {
            info.message().strip_prefix("abort_statement:")
        }
        _ => None,
    }
}

async fn attempt(
    conn: &mut AsyncPgConnection,
    subject: &Subject,
    request: &Requested,
    key: &IdempotencyKey,
    scope: &str,
    hash: &str,
) -> Result<Attempt, ApiError> {
    // Microseconds: what PostgreSQL stores, so the response equals a later read.
    let now = Utc::now().trunc_subsecs(6);
    let year = now.year();
    let today = now.date_naive();

    // 1. Read.
    let ids: Vec<Uuid> = request.lines.iter().map(|(id, _)| *id).collect();
    let rows: Vec<Read> = statement(concat!(
        "WITH employee AS (SELECT e.tier_id, e.group_id FROM employees e WHERE e.id = $1 AND e.active), \
         head AS ( \
             SELECT ",
        crate::user_columns!(),
        ", k.scope, k.request_hash, k.response_status, k.response_body, \
                    coalesce((SELECT a.used FROM allowance_usage a \
                              WHERE a.employee_id = e.id AND a.year = $2), 0) AS used, \
                    g.currency AS group_currency \
             FROM ",
        crate::signed_in_from!(),
        " JOIN companies g ON g.id = ec.group_id \
             LEFT JOIN idempotency_keys k ON k.employee_id = e.id AND k.key = $3 \
             WHERE e.id = $1 AND e.active), \
         found AS ( \
             SELECT p.*, c.currency, c.group_id AS seller_group_id, \
                    t.discount_percent AS category_override, \
                    CASE WHEN c.currency <> g.currency THEN \
                        (SELECT x.rate FROM fx_lookup(p.group_id, c.currency, g.currency, $5) x) \
                    END AS fx_stored_rate, \
                    CASE WHEN c.currency <> g.currency THEN \
                        (SELECT x.inverted FROM fx_lookup(p.group_id, c.currency, g.currency, $5) x) \
                    END AS fx_inverted \
             FROM products p \
             JOIN companies c ON c.id = p.seller_company_id \
             JOIN companies g ON g.id = p.group_id \
             LEFT JOIN tier_category_discounts t ON t.category_id = p.category_id \
                 AND t.tier_id = (SELECT tier_id FROM employee) \
             WHERE p.id = ANY($4) AND p.group_id = (SELECT group_id FROM employee)) \
         SELECT head.*, found.* FROM head LEFT JOIN found ON true"
    ))
    .bind::<diesel::sql_types::Uuid, _>(subject.id)
    .bind::<Integer, _>(year)
    .bind::<Text, _>(&key.0)
    .bind::<Array<diesel::sql_types::Uuid>, _>(&ids)
    .bind::<diesel::sql_types::Date, _>(today)
    .load(conn)
    .await?;
    let mut rows = rows.into_iter();
    let first = rows.next().ok_or(ApiError::Unauthorized)?;
    let Head {
        user,
        scope: stored_scope,
        request_hash,
        response_status,
        response_body,
        used,
        group_currency,
    } = first.head;
    let user = &subject.admit(user.into_user(subject.request_id.clone()))?;
    let existing = match (stored_scope, request_hash, response_status, response_body) {
        (Some(scope), Some(hash), Some(status), Some(body)) => Some((scope, hash, status, body)),
        _ => None,
    };
    // The key is claimed by the write; a request still running under it is caught there.
    if let Some(stored) = idempotency::decide(existing, scope, hash)? {
        return Ok(Attempt::Done(Placed::Replay(stored)));
    }
    let found: Vec<FoundRow> = std::iter::once(first.found)
        .chain(rows.map(|r| r.found))
        .flatten()
        .collect();
    let fx_rate = <[_]>::first(&found).and_then(|r| {
        crate::domain::fx::effective_rate(crate::domain::fx::StoredRate {
            rate: r.fx_stored_rate?,
            inverted: r.fx_inverted?,
        })
    });
    let found = found
        .into_iter()
        .map(|r| {
            (
                r.product,
                r.currency,
                r.seller_group_id,
                r.category_override,
            )
        })
        .collect();
    let ctx = price_context(user, request, found, &group_currency, fx_rate)?;
    let order = allowance::price_order(
        &ctx.inputs,
        ctx.currency,
        ctx.group_currency,
        ctx.fx_rate,
        ctx.cap.map(|c| c.saturating_sub(used)),
    )?;

    let mut by_product: Vec<(&catalog::ProductRow, u32)> = ctx
        .rows
        .iter()
        .zip(&request.lines)
        .map(|((product, _, _, _), (_, quantity))| (product, *quantity))
        .collect();
    by_product.sort_by_key(|(product, _)| product.id);
    let sku_of = |id: &str| {
        by_product
            .iter()
            .find(|(p, _)| p.id.to_string() == id)
            .map(|(p, _)| p.sku.clone())
            .unwrap_or_default()
    };
    let mut limited: Vec<(Uuid, NaiveDate, i32)> = Vec::new();
    for (product, quantity) in &by_product {
        let quantity = i32::try_from(*quantity).unwrap_or(i32::MAX);
        if product.stock_on_hand < quantity {
            return Err(out_of_stock(&product.sku));
        }
        if let (Some(max), Some(period)) = (
            product.purchase_limit_quantity,
            product.purchase_limit_period.as_deref(),
        ) {
            if quantity > max {
                return Err(limit_exceeded(&product.sku));
            }
            limited.push((product.id, period_start(period, today), quantity));
        }
    }
    let period_of: HashMap<Uuid, NaiveDate> =
        limited.iter().map(|(id, start, _)| (*id, *start)).collect();

    // 2. Write.
    let id = Uuid::new_v4();
    let view = OrderView {
        id,
        number: String::new(),
        status: "placed".to_owned(),
        employee_id: user.id,
        seller_company_id: ctx.seller,
        currency: ctx.currency.to_string(),
        lines: line_views(&order, ctx.currency),
        list_total: money::format(order.list_total, ctx.currency),
        discount_total: money::format(order.discount_total, ctx.currency),
        total: money::format(order.total, ctx.currency),
        allowance_applied: money::format(order.allowance_applied, ctx.group_currency),
        allowance_currency: ctx.group_currency.to_string(),
        fx_rate: order.fx_rate.normalize().to_string(),
        created_at: now,
        updated_at: now,
    };
    let mut body = serde_json::to_value(&view).map_err(|e| ApiError::Internal(e.into()))?;
    let column = |f: &dyn Fn(&allowance::PricedLine) -> Decimal| -> Vec<Decimal> {
        order.lines.iter().map(f).collect()
    };
    let written: Result<Written, _> = statement(
        "WITH claim AS (SELECT pg_try_advisory_xact_lock(hashtextextended($3, 0)) AS claimed), \
         locked AS ( \
             SELECT p.id FROM products p, claim \
             WHERE claim.claimed AND p.id = ANY($1) \
             ORDER BY p.id \
             FOR NO KEY UPDATE OF p), \
         stock AS ( \
             UPDATE products p SET stock_on_hand = p.stock_on_hand - s.quantity \
             FROM unnest($1::uuid[], $2::int4[]) AS s(id, quantity), \
                  (SELECT count(*) AS n FROM locked) AS l \
             WHERE l.n = cardinality($1::uuid[]) AND p.id = ANY($1) AND p.id = s.id \
                 AND p.stock_on_hand >= s.quantity \
             RETURNING p.id), \
         charge AS ( \
             INSERT INTO allowance_usage AS a (employee_id, year, used) \
             SELECT $4, $5, $6 FROM (SELECT count(*) AS n FROM stock) AS st \
             WHERE st.n = cardinality($1::uuid[]) \
             ON CONFLICT (employee_id, year) DO UPDATE SET used = a.used + EXCLUDED.used \
             WHERE a.used = $7 AND ($8::numeric IS NULL OR a.used + EXCLUDED.used <= $8) \
             RETURNING 1), \
         limited AS ( \
             INSERT INTO purchase_limit_usage AS u (employee_id, product_id, period_start, quantity, \
                 group_id) \
             SELECT $4, x.product_id, x.period_start, x.quantity, $34 \
             FROM unnest($9::uuid[], $10::date[], $11::int4[]) AS x(product_id, period_start, quantity), \
                  (SELECT count(*) AS n FROM charge) AS ch \
             WHERE ch.n = 1 \
             ON CONFLICT (employee_id, product_id, period_start) \
             DO UPDATE SET quantity = u.quantity + EXCLUDED.quantity \
             WHERE u.quantity + EXCLUDED.quantity <= \
                 (SELECT p.purchase_limit_quantity FROM products p WHERE p.id = EXCLUDED.product_id) \
             RETURNING u.product_id), \
         o AS ( \
             INSERT INTO orders (id, status, employee_id, seller_company_id, currency, list_total, \
                 discount_total, total, allowance_applied, allowance_year, group_currency, fx_rate, \
                 created_at, updated_at, group_id) \
             VALUES ($12, 'placed', $4, $13, $14, $15, $16, $17, $6, $5, $18, $19, $20, $20, $34) \
             RETURNING id, number), \
         lines AS ( \
             INSERT INTO order_lines (order_id, line_no, product_id, quantity, unit_list_price, \
                 discount_percent, line_list_total, line_discount, line_total, limit_period_start, \
                 group_id) \
             SELECT o.id, l.line_no::int4, l.product_id, l.quantity, l.unit_list_price, \
                 l.discount_percent, l.line_list_total, l.line_discount, l.line_total, l.period, $34 \
             FROM o, unnest($21::uuid[], $22::int4[], $23::numeric[], $24::numeric[], \
                 $25::numeric[], $26::numeric[], $27::numeric[], $28::date[]) WITH ORDINALITY \
                 AS l(product_id, quantity, unit_list_price, discount_percent, line_list_total, \
                      line_discount, line_total, period, line_no) \
             RETURNING 1), \
         body AS (SELECT jsonb_set($29::jsonb, '{number}', to_jsonb(o.number)) AS view FROM o), \
         audit AS ( \
             INSERT INTO audit_events (actor_id, action, entity_type, entity_id, after, request_id, \
                 group_id) \
             SELECT $4, 'order.placed', 'order', o.id, body.view, $30, $34 FROM o, body \
             RETURNING 1), \
         stored AS ( \
             INSERT INTO idempotency_keys (employee_id, key, scope, request_hash, \
                 response_status, response_body) \
             SELECT $4, $31, $32, $33, 201, body.view FROM body \
             ON CONFLICT DO NOTHING \
             RETURNING 1), \
         outcome AS ( \
             SELECT o.number, CASE \
                 WHEN NOT claim.claimed THEN 'request_in_progress' \
                 WHEN (SELECT count(*) FROM stock) <> cardinality($1::uuid[]) THEN \
                     'insufficient_stock:' || coalesce((SELECT min(s.id::text) \
                         FROM unnest($1::uuid[]) AS s(id) \
                         WHERE s.id NOT IN (SELECT id FROM stock)), '') \
                 WHEN (SELECT count(*) FROM charge) <> 1 THEN 'allowance_moved' \
                 WHEN (SELECT count(*) FROM limited) <> cardinality($9::uuid[]) THEN \
                     'purchase_limit_exceeded:' || coalesce((SELECT min(x.id::text) \
                         FROM unnest($9::uuid[]) AS x(id) \
                         WHERE x.id NOT IN (SELECT product_id FROM limited)), '') \
                 WHEN (SELECT count(*) FROM lines) <> cardinality($21::uuid[]) \
                     OR (SELECT count(*) FROM audit) <> 1 THEN 'not_written' \
                 WHEN (SELECT count(*) FROM stored) <> 1 THEN 'key_taken' \
             END AS failure \
             FROM claim LEFT JOIN o ON true) \
         SELECT number, abort_statement(failure) AS aborted FROM outcome",
    )
    .bind::<Array<diesel::sql_types::Uuid>, _>(by_product.iter().map(|(p, _)| p.id).collect::<Vec<_>>())
    .bind::<Array<Integer>, _>(
        by_product
            .iter()
            .map(|(_, q)| i32::try_from(*q).unwrap_or(i32::MAX))
            .collect::<Vec<_>>(),
    )
    .bind::<Text, _>(idempotency::lock_name(user.id, key))
    .bind::<diesel::sql_types::Uuid, _>(user.id)
    .bind::<Integer, _>(year)
    .bind::<Numeric, _>(order.allowance_applied)
    .bind::<Numeric, _>(used)
    .bind::<Nullable<Numeric>, _>(ctx.cap)
    .bind::<Array<diesel::sql_types::Uuid>, _>(limited.iter().map(|(id, _, _)| *id).collect::<Vec<_>>())
    .bind::<Array<diesel::sql_types::Date>, _>(limited.iter().map(|(_, start, _)| *start).collect::<Vec<_>>())
    .bind::<Array<Integer>, _>(limited.iter().map(|(_, _, q)| *q).collect::<Vec<_>>())
    .bind::<diesel::sql_types::Uuid, _>(id)
    .bind::<diesel::sql_types::Uuid, _>(ctx.seller)
    .bind::<Text, _>(ctx.currency.as_str())
    .bind::<Numeric, _>(order.list_total)
    .bind::<Numeric, _>(order.discount_total)
    .bind::<Numeric, _>(order.total)
    .bind::<Text, _>(ctx.group_currency.as_str())
    .bind::<Numeric, _>(order.fx_rate)
    .bind::<Timestamptz, _>(now)
    .bind::<Array<diesel::sql_types::Uuid>, _>(order.lines.iter().map(|l| l.product_id).collect::<Vec<_>>())
    .bind::<Array<Integer>, _>(
        order
            .lines
            .iter()
            .map(|l| i32::try_from(l.quantity).unwrap_or(i32::MAX))
            .collect::<Vec<_>>(),
    )
    .bind::<Array<Numeric>, _>(column(&|l| l.unit_list_price))
    .bind::<Array<Numeric>, _>(column(&|l| l.discount_percent))
    .bind::<Array<Numeric>, _>(column(&|l| l.line_list_total))
    .bind::<Array<Numeric>, _>(column(&|l| l.line_discount))
    .bind::<Array<Numeric>, _>(column(&|l| l.line_total))
    .bind::<Array<Nullable<diesel::sql_types::Date>>, _>(
        order
            .lines
            .iter()
            .map(|l| period_of.get(&l.product_id).copied())
            .collect::<Vec<_>>(),
    )
    .bind::<Jsonb, _>(&body)
    .bind::<Nullable<Text>, _>(user.request_id.as_deref())
    .bind::<Text, _>(&key.0)
    .bind::<Text, _>(scope)
    .bind::<Text, _>(hash)
    .bind::<diesel::sql_types::Uuid, _>(user.group_id)
    .get_result(conn)
    .await;
    let written = match written {
        Ok(written) => written,
        Err(error) => {
            let Some(reason) = abort_reason(&error) else {
                return Err(error.into());
            };
            let (reason, product) = reason.split_once(':').unwrap_or((reason, ""));
            return match reason {
                "insufficient_stock" => Err(out_of_stock(&sku_of(product))),
                "purchase_limit_exceeded" => Err(limit_exceeded(&sku_of(product))),
                "request_in_progress" => Err(idempotency::in_progress()),
                "allowance_moved" | "key_taken" => Ok(Attempt::Again),
                _ => Err(ApiError::internal(format!("order not written: {reason}"))),
            };
        }
    };
    if let Some(number) = body.get_mut("number") {
        *number = serde_json::Value::String(written.number);
    }
    Ok(Attempt::Done(Placed::Created(body)))
}

pub fn order_view(row: OrderRow, mut lines: Vec<LineRow>) -> OrderView {
    lines.sort_by_key(|l| l.line_no);
    let currency = CurrencyCode::parse(&row.currency);
    let group = CurrencyCode::parse(&row.group_currency);
    let fmt = |amount: Decimal, code: Option<CurrencyCode>| match code {
        Some(code) => money::format(amount, code),
        None => amount.to_string(),
    };
    OrderView {
        id: row.id,
        number: row.number,
        status: row.status,
        employee_id: row.employee_id,
        seller_company_id: row.seller_company_id,
        currency: row.currency.clone(),
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
        allowance_currency: row.group_currency,
        fx_rate: row.fx_rate.normalize().to_string(),
        created_at: row.created_at,
        updated_at: row.updated_at,
    }
}

/// Orders with their lines: two queries for any number of orders.
pub async fn with_lines(
    conn: &mut AsyncPgConnection,
    rows: Vec<OrderRow>,
) -> QueryResult<Vec<OrderView>> {
    let ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
    let lines: Vec<LineRow> = order_lines::table
        .filter(order_lines::order_id.eq_any(&ids))
        .select(LineRow::as_select())
        .load(conn)
        .await?;
    let mut by_order: HashMap<Uuid, Vec<LineRow>> = HashMap::new();
    for line in lines {
        by_order.entry(line.order_id).or_default().push(line);
    }
    Ok(rows
        .into_iter()
        .map(|row| {
            let lines = by_order.remove(&row.id).unwrap_or_default();
            order_view(row, lines)
        })
        .collect())
}

/// The order `id` of `group`, locked for a state change.
pub async fn find_for_update(
    conn: &mut AsyncPgConnection,
    group: Uuid,
    id: Uuid,
) -> QueryResult<Option<OrderRow>> {
    orders::table
        .find(id)
        .filter(orders::group_id.eq(group))
        .select(OrderRow::as_select())
        .for_update()
        .get_result(conn)
        .await
        .optional()
}

/// Cancels a placed order, giving back allowance, purchase-limit quantity and stock.
/// Locks in the order placing uses: products, allowance row, purchase-limit rows.
pub async fn cancel(conn: &mut AsyncPgConnection, order: &OrderRow) -> Result<OrderView, ApiError> {
    let mut lines: Vec<LineRow> = order_lines::table
        .filter(order_lines::order_id.eq(order.id))
        .select(LineRow::as_select())
        .load(conn)
        .await?;
    lines.sort_by_key(|l| l.product_id);
    for line in &lines {
        diesel::update(products::table.find(line.product_id))
            .set(products::stock_on_hand.eq(products::stock_on_hand + line.quantity))
            .execute(conn)
            .await?;
    }
    diesel::update(allowance_usage::table.find((order.employee_id, order.allowance_year)))
        .set(allowance_usage::used.eq(allowance_usage::used - order.allowance_applied))
        .execute(conn)
        .await?;
    for line in &lines {
        if let Some(start) = line.limit_period_start {
            diesel::update(purchase_limit_usage::table.find((
                order.employee_id,
                line.product_id,
                start,
            )))
            .set(purchase_limit_usage::quantity.eq(purchase_limit_usage::quantity - line.quantity))
            .execute(conn)
            .await?;
        }
    }
    set_status(conn, order, "cancelled", None, lines).await
}

/// Sets the order's status; `fulfilled_at` is the fulfilment time (only for `fulfilled`).
pub async fn set_status(
    conn: &mut AsyncPgConnection,
    order: &OrderRow,
    status: &str,
    fulfilled_at: Option<DateTime<Utc>>,
    lines: Vec<LineRow>,
) -> Result<OrderView, ApiError> {
    let row: OrderRow = diesel::update(orders::table.find(order.id))
        .set((
            orders::status.eq(status),
            orders::updated_at.eq(diesel::dsl::now),
            orders::fulfilled_at.eq(fulfilled_at),
        ))
        .returning(OrderRow::as_returning())
        .get_result(conn)
        .await?;
    Ok(order_view(row, lines))
}

pub async fn lines_of(conn: &mut AsyncPgConnection, order: Uuid) -> QueryResult<Vec<LineRow>> {
    order_lines::table
        .filter(order_lines::order_id.eq(order))
        .select(LineRow::as_select())
        .load(conn)
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limit_periods_start_on_the_first() {
        let day = NaiveDate::from_ymd_opt(2026, 11, 24).unwrap_or_default();
        assert_eq!(
            period_start("month", day),
            NaiveDate::from_ymd_opt(2026, 11, 1).unwrap_or_default()
        );
        assert_eq!(
            period_start("year", day),
            NaiveDate::from_ymd_opt(2026, 1, 1).unwrap_or_default()
        );
    }

    #[test]
    fn requests_are_validated_with_field_names() {
        let product = Uuid::new_v4();
        let request = NewOrder {
            lines: vec![
                OrderLineRequest {
                    product_id: product,
                    quantity: 0,
                },
                OrderLineRequest {
                    product_id: product,
                    quantity: 2,
                },
            ],
        };
        let Err(ApiError::Validation { errors, .. }) = validate(&request) else {
            panic!("expected a validation error");
        };
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, vec!["lines[0].quantity", "lines[1].product_id"]);
        assert!(validate(&NewOrder { lines: vec![] }).is_err());
    }
}
