//! Placing, cancelling and fulfilling employee orders. Locks are always taken in one order —
//! the employee's allowance row, then purchase-limit rows, then products by id — so concurrent
//! orders never deadlock, and every invariant is also held by a conditional update or a CHECK.

use std::collections::HashMap;

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use rust_decimal::Decimal;
use uuid::Uuid;

use super::dto::*;
use crate::catalog::queries::{self as catalog, PricedRow};
use crate::db::schema::{
    allowance_usage, companies, order_lines, orders, products, purchase_limit_usage,
};
use crate::domain::allowance::{self, LineInput, PricedOrder};
use crate::domain::codes::CurrencyCode;
use crate::domain::{money, pricing};
use crate::error::{ApiError, FieldError};
use crate::identity::auth::CurrentUser;

#[derive(QueryableByName)]
struct Taken {
    #[diesel(sql_type = diesel::sql_types::Integer)]
    #[allow(dead_code)]
    quantity: i32,
}

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
    let today = Utc::now().date_naive();
    let wanted: HashMap<(Uuid, NaiveDate), ()> = rows
        .iter()
        .filter_map(|(p, _, _, _)| {
            p.purchase_limit_period
                .as_deref()
                .map(|period| ((p.id, period_start(period, today)), ()))
        })
        .collect();
    if wanted.is_empty() {
        return Ok(HashMap::new());
    }
    let ids: Vec<Uuid> = wanted.keys().map(|(id, _)| *id).collect();
    let found: Vec<(Uuid, NaiveDate, i32)> = purchase_limit_usage::table
        .filter(purchase_limit_usage::employee_id.eq(employee))
        .filter(purchase_limit_usage::product_id.eq_any(&ids))
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
        .await?;
    Ok(found
        .into_iter()
        .filter(|(id, start, _)| wanted.contains_key(&(*id, *start)))
        .map(|(id, _, quantity)| (id, quantity))
        .collect())
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
        .first(conn)
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

/// Everything needed to price a request, read in a few queries.
pub struct Context {
    pub rows: Vec<PricedRow>,
    pub seller: Uuid,
    pub currency: CurrencyCode,
    pub group_currency: CurrencyCode,
    pub fx_rate: Decimal,
    pub cap: Option<Decimal>,
    pub inputs: Vec<LineInput>,
}

pub async fn context(
    conn: &mut AsyncPgConnection,
    user: &CurrentUser,
    request: &Requested,
) -> Result<Context, ApiError> {
    let ids: Vec<Uuid> = request.lines.iter().map(|(id, _)| *id).collect();
    let found: Vec<PricedRow> = catalog::find_products(conn, &ids, user.tier_id).await?;
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
    let group_code: String = companies::table
        .find(user.group_id)
        .select(companies::currency)
        .first(conn)
        .await?;
    let group_currency = CurrencyCode::parse(&group_code)
        .ok_or_else(|| ApiError::internal("unknown group currency"))?;
    let fx_rate = if currency == group_currency {
        Decimal::ONE
    } else {
        return Err(ApiError::unprocessable(
            "fx_rate_missing",
            format!("no {currency}→{group_currency} exchange rate is known for today"),
        ));
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
        ctx.cap.map(|c| c - used),
    );
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

/// Places the order: allowance, limits and stock are checked and taken under locks in a
/// fixed order, within the caller's transaction.
pub async fn place(
    conn: &mut AsyncPgConnection,
    user: &CurrentUser,
    request: &Requested,
) -> Result<OrderView, ApiError> {
    let now = Utc::now();
    let year = now.year();
    let today = now.date_naive();
    let ctx = context(conn, user, request).await?;

    // 1. The employee's allowance row, created if needed and locked in one statement (the
    //    no-op update takes the row lock): serialises this employee's orders.
    let used: Decimal = diesel::insert_into(allowance_usage::table)
        .values((
            allowance_usage::employee_id.eq(user.id),
            allowance_usage::year.eq(year),
        ))
        .on_conflict((allowance_usage::employee_id, allowance_usage::year))
        .do_update()
        .set(allowance_usage::used.eq(allowance_usage::used))
        .returning(allowance_usage::used)
        .get_result(conn)
        .await?;
    let order = allowance::price_order(
        &ctx.inputs,
        ctx.currency,
        ctx.group_currency,
        ctx.fx_rate,
        ctx.cap.map(|c| c - used),
    );

    // 2. Purchase limits, in product-id order.
    let mut by_product: Vec<(&catalog::ProductRow, u32)> = ctx
        .rows
        .iter()
        .zip(&request.lines)
        .map(|((product, _, _, _), (_, quantity))| (product, *quantity))
        .collect();
    by_product.sort_by_key(|(product, _)| product.id);
    let mut period_of: HashMap<Uuid, NaiveDate> = HashMap::new();
    for (product, quantity) in &by_product {
        let (Some(max), Some(period)) = (
            product.purchase_limit_quantity,
            product.purchase_limit_period.as_deref(),
        ) else {
            continue;
        };
        let quantity = i32::try_from(*quantity).unwrap_or(i32::MAX);
        let start = period_start(period, today);
        if quantity > max {
            return Err(limit_exceeded(&product.sku));
        }
        // Conditional upsert: the row only grows while it stays within the limit.
        let taken: Option<Taken> = diesel::sql_query(
            "INSERT INTO purchase_limit_usage AS u (employee_id, product_id, period_start, quantity) \
             VALUES ($1, $2, $3, $4) \
             ON CONFLICT (employee_id, product_id, period_start) \
             DO UPDATE SET quantity = u.quantity + EXCLUDED.quantity WHERE u.quantity + EXCLUDED.quantity <= $5 \
             RETURNING quantity",
        )
        .bind::<diesel::sql_types::Uuid, _>(user.id)
        .bind::<diesel::sql_types::Uuid, _>(product.id)
        .bind::<diesel::sql_types::Date, _>(start)
        .bind::<diesel::sql_types::Integer, _>(quantity)
        .bind::<diesel::sql_types::Integer, _>(max)
        .get_result(conn)
        .await
        .optional()?;
        if taken.is_none() {
            return Err(limit_exceeded(&product.sku));
        }
        period_of.insert(product.id, start);
    }

    // 3. Stock, in product-id order, each a conditional decrement.
    for (product, quantity) in &by_product {
        let quantity = i32::try_from(*quantity).unwrap_or(i32::MAX);
        let taken = diesel::update(
            products::table
                .find(product.id)
                .filter(products::stock_on_hand.ge(quantity)),
        )
        .set(products::stock_on_hand.eq(products::stock_on_hand - quantity))
        .execute(conn)
        .await?;
        if taken == 0 {
            return Err(out_of_stock(&product.sku));
        }
    }

    // 4. Charge the allowance; the condition re-checks the cap in the database.
    let charge = allowance_usage::used.eq(allowance_usage::used + order.allowance_applied);
    let charged = match ctx.cap {
        Some(cap) => {
            diesel::update(
                allowance_usage::table
                    .find((user.id, year))
                    .filter((allowance_usage::used + order.allowance_applied).le(cap)),
            )
            .set(charge)
            .execute(conn)
            .await?
        }
        None => {
            diesel::update(allowance_usage::table.find((user.id, year)))
                .set(charge)
                .execute(conn)
                .await?
        }
    };
    if charged == 0 {
        return Err(ApiError::conflict(
            "conflict",
            "the annual allowance changed; retry",
        ));
    }

    // 5. The order and its lines.
    let row: OrderRow = diesel::insert_into(orders::table)
        .values((
            orders::status.eq("placed"),
            orders::employee_id.eq(user.id),
            orders::seller_company_id.eq(ctx.seller),
            orders::currency.eq(ctx.currency.as_str()),
            orders::list_total.eq(order.list_total),
            orders::discount_total.eq(order.discount_total),
            orders::total.eq(order.total),
            orders::allowance_applied.eq(order.allowance_applied),
            orders::allowance_year.eq(year),
            orders::group_currency.eq(ctx.group_currency.as_str()),
            orders::fx_rate.eq(order.fx_rate),
            orders::created_at.eq(now),
            orders::updated_at.eq(now),
        ))
        .returning(OrderRow::as_returning())
        .get_result(conn)
        .await?;
    let lines: Vec<_> = order
        .lines
        .iter()
        .enumerate()
        .map(|(index, line)| {
            (
                order_lines::order_id.eq(row.id),
                order_lines::line_no.eq(i32::try_from(index + 1).unwrap_or(i32::MAX)),
                order_lines::product_id.eq(line.product_id),
                order_lines::quantity.eq(i32::try_from(line.quantity).unwrap_or(i32::MAX)),
                order_lines::unit_list_price.eq(line.unit_list_price),
                order_lines::discount_percent.eq(line.discount_percent),
                order_lines::line_list_total.eq(line.line_list_total),
                order_lines::line_discount.eq(line.line_discount),
                order_lines::line_total.eq(line.line_total),
                order_lines::limit_period_start.eq(period_of.get(&line.product_id).copied()),
            )
        })
        .collect();
    let line_rows: Vec<LineRow> = diesel::insert_into(order_lines::table)
        .values(&lines)
        .returning(LineRow::as_returning())
        .get_results(conn)
        .await?;
    Ok(order_view(row, line_rows))
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

pub async fn find_for_update(
    conn: &mut AsyncPgConnection,
    id: Uuid,
) -> QueryResult<Option<OrderRow>> {
    orders::table
        .find(id)
        .select(OrderRow::as_select())
        .for_update()
        .first(conn)
        .await
        .optional()
}

/// Cancels a placed order, giving back allowance, purchase-limit quantity and stock.
pub async fn cancel(conn: &mut AsyncPgConnection, order: &OrderRow) -> Result<OrderView, ApiError> {
    diesel::update(allowance_usage::table.find((order.employee_id, order.allowance_year)))
        .set(allowance_usage::used.eq(allowance_usage::used - order.allowance_applied))
        .execute(conn)
        .await?;
    let mut lines: Vec<LineRow> = order_lines::table
        .filter(order_lines::order_id.eq(order.id))
        .select(LineRow::as_select())
        .load(conn)
        .await?;
    lines.sort_by_key(|l| l.product_id);
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
    for line in &lines {
        diesel::update(products::table.find(line.product_id))
            .set(products::stock_on_hand.eq(products::stock_on_hand + line.quantity))
            .execute(conn)
            .await?;
    }
    set_status(conn, order, "cancelled", lines).await
}

pub async fn set_status(
    conn: &mut AsyncPgConnection,
    order: &OrderRow,
    status: &str,
    lines: Vec<LineRow>,
) -> Result<OrderView, ApiError> {
    let row: OrderRow = diesel::update(orders::table.find(order.id))
        .set((
            orders::status.eq(status),
            orders::updated_at.eq(diesel::dsl::now),
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
