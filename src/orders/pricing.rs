//! Pricing a request for the signed-in employee: the eligibility rule, one seller per order,
//! the order date's exchange rate to the group currency, and each line's discount. Quotes
//! stop here; placement (`placement.rs`) prices the same way from its own single read.

use std::collections::HashMap;

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use diesel_async::AsyncPgConnection;
use rust_decimal::Decimal;
use uuid::Uuid;

use super::validation::Requested;
use crate::catalog::queries::{self as catalog, PricedRow};
use crate::domain::allowance::{self, LineInput};
use crate::domain::codes::CurrencyCode;
use crate::domain::money::Money;
use crate::domain::payroll::Plan;
use crate::domain::pricing;
use crate::error::ApiError;
use crate::identity::auth::CurrentUser;
use crate::ids::{GroupId, ProductId};

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
    today: NaiveDate,
) -> Result<Context, ApiError> {
    let found =
        catalog::find_products(conn, user.group_id, &request.product_ids(), user.tier_id).await?;
    let group_code = crate::identity::queries::group_currency(conn, user.group_id).await?;
    let seller = <[_]>::first(&found).map(|row| row.currency);
    let fx_rate = seller_rate(conn, user.group_id, seller, group_code, today).await?;
    price_context(user, request, found, group_code, fx_rate, today)
}

/// The rate from the seller's currency (`from`, the first product's, if any was found) into the
/// group's on the order date `today`, looked up only when they differ (an order has one seller;
/// [`price_context`] refuses more). The quote and the placement both read it here.
pub async fn seller_rate(
    conn: &mut AsyncPgConnection,
    group: GroupId,
    from: Option<CurrencyCode>,
    to: CurrencyCode,
    today: NaiveDate,
) -> Result<Option<Decimal>, ApiError> {
    match from {
        Some(from) if from != to => crate::fx::queries::lookup(conn, group, from, to, today).await,
        _ => Ok(None),
    }
}

/// Checks that every requested product may be bought by `user` from one seller, and prepares
/// the pricing inputs in request order. `fx_rate` converts the seller's currency to the
/// group's on the order date `today` (None: no rate is known).
pub fn price_context(
    user: &CurrentUser,
    request: &Requested,
    found: Vec<PricedRow>,
    group_currency: CurrencyCode,
    fx_rate: Option<Decimal>,
    today: NaiveDate,
) -> Result<Context, ApiError> {
    let by_id: HashMap<ProductId, PricedRow> =
        found.into_iter().map(|row| (row.product.id, row)).collect();
    let mut rows = Vec::with_capacity(request.lines.len());
    for (index, (id, _)) in request.lines.iter().enumerate() {
        match by_id.get(id) {
            Some(row) if pricing::employee_may_buy(row.offer(user.group_id)) => {
                rows.push(row.clone())
            }
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
        .map(|r| r.product.seller_company_id)
        .ok_or_else(|| ApiError::invalid_field("lines", "must hold 1–50 lines"))?;
    if let Some(index) = rows
        .iter()
        .position(|r| r.product.seller_company_id != seller)
    {
        return Err(ApiError::invalid_field(
            &format!("lines[{index}].product_id"),
            "all products of an order must come from one seller company",
        ));
    }
    let currency = <[_]>::first(&rows)
        .map(|r| r.currency)
        .ok_or_else(|| ApiError::internal("no seller currency"))?;
    let fx_rate = if currency == group_currency {
        Decimal::ONE
    } else {
        fx_rate.ok_or_else(|| crate::fx::queries::missing(currency, group_currency, today))?
    };
    let inputs = rows
        .iter()
        .zip(&request.lines)
        .map(|(row, (_, quantity))| LineInput {
            product_id: row.product.id.uuid(),
            quantity: *quantity,
            unit_list_price: Money::new(row.product.list_price, currency),
            discount_percent: pricing::discount_percent(
                user.tier.as_ref(),
                user.employment_type,
                row.category_override,
            ),
        })
        .collect();
    Ok(Context {
        rows,
        seller,
        currency,
        group_currency,
        fx_rate,
        cap: user.tier_allowance,
        inputs,
    })
}

pub fn limit_exceeded(sku: &str) -> ApiError {
    ApiError::conflict(
        "purchase_limit_exceeded",
        format!("{sku}: this would exceed your purchase limit for the period"),
    )
}

pub fn out_of_stock(sku: &str) -> ApiError {
    ApiError::conflict("insufficient_stock", format!("{sku}: not enough stock"))
}

/// A request priced without placing it: its context, its priced lines and totals, and its
/// payroll plan when paid from wages.
pub struct Quote {
    pub ctx: Context,
    pub order: allowance::PricedOrder,
    pub plan: Option<Plan>,
}

/// Prices a request at `now` without changing anything; reports stock and limit problems
/// as placing would, on the same dates: the UTC year's allowance, the group's business day for
/// the rest.
pub async fn quote(
    conn: &mut AsyncPgConnection,
    user: &CurrentUser,
    request: &Requested,
    now: DateTime<Utc>,
) -> Result<Quote, ApiError> {
    let today = user.zone.today(now);
    let ctx = context(conn, user, request, today).await?;
    let used = crate::ledger::allowance_used(conn, user.id, now.year()).await?;
    let order = allowance::price_order(
        &ctx.inputs,
        ctx.currency,
        ctx.group_currency,
        ctx.fx_rate,
        ctx.cap.map(|c| c.saturating_sub(used)),
    )?;
    let bought = crate::ledger::used_of(conn, user.id, &catalog::limited(&ctx.rows), today).await?;
    for (row, (_, quantity)) in ctx.rows.iter().zip(&request.lines) {
        let product = &row.product;
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
    let plan = match request.payroll {
        Some(instalments) => {
            let standing = crate::payroll::terms::standing(conn, user.id).await?;
            let plan = standing.plan(order.total, instalments, today)?;
            crate::payroll::schedule::check_share(conn, user.id, &plan).await?;
            Some(plan)
        }
        None => None,
    };
    Ok(Quote { ctx, order, plan })
}
