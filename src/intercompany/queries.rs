//! Database work for intercompany orders: pricing a request from the seller's policies, the
//! order with its lines, reading orders back with their ledger entries, and the postings made
//! at shipping and settlement.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, NaiveDate, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use rust_decimal::Decimal;
use uuid::Uuid;

use super::dto::*;
use super::policies::PolicyRow;
use crate::db::schema::{
    companies, intercompany_order_lines as lines, intercompany_orders as orders,
    ledger_entries as entries, products, transfer_pricing_policies as policies,
};
use crate::domain::codes::CurrencyCode;
use crate::domain::intercompany::Status;
use crate::domain::money;
use crate::domain::transfer_pricing::{self, Method, PricedLine};
use crate::error::{ApiError, FieldError};

pub const MAX_LINES: usize = 50;
pub const MAX_QUANTITY: i64 = 1_000_000;

/// A request whose shape is valid: 1–50 lines, quantities 1–1 000 000, each product once.
pub struct Requested {
    pub buyer: Uuid,
    pub seller: Uuid,
    pub lines: Vec<(Uuid, i32)>,
}

pub fn validate(request: &NewIcOrder) -> Result<Requested, ApiError> {
    let mut errors = Vec::new();
    if request.lines.is_empty() || request.lines.len() > MAX_LINES {
        errors.push(FieldError::new("lines", "must hold 1–50 lines"));
    }
    let mut seen = HashSet::new();
    let mut lines = Vec::with_capacity(request.lines.len());
    for (index, line) in request.lines.iter().enumerate() {
        match i32::try_from(line.quantity) {
            Ok(quantity) if (1..=MAX_QUANTITY).contains(&line.quantity) => {
                lines.push((line.product_id, quantity))
            }
            _ => errors.push(FieldError::new(
                format!("lines[{index}].quantity"),
                "must be between 1 and 1000000",
            )),
        }
        if !seen.insert(line.product_id) {
            errors.push(FieldError::new(
                format!("lines[{index}].product_id"),
                "each product may appear once",
            ));
        }
    }
    if errors.is_empty() {
        Ok(Requested {
            buyer: request.buyer_company_id,
            seller: request.seller_company_id,
            lines,
        })
    } else {
        Err(ApiError::invalid(errors))
    }
}

/// The request priced: what an order (or a quote) is made of.
pub struct Priced {
    pub buyer: Uuid,
    pub seller: Uuid,
    pub currency: CurrencyCode,
    pub order_date: NaiveDate,
    pub lines: Vec<(Uuid, i32, PricedLine)>,
    pub total: Decimal,
}

fn not_intercompany(detail: &str) -> ApiError {
    ApiError::unprocessable("not_intercompany", detail)
}

/// The currency of company `id` of `group`.
pub async fn company_currency(
    conn: &mut AsyncPgConnection,
    group: Uuid,
    id: Uuid,
) -> Result<Option<CurrencyCode>, ApiError> {
    let code: Option<String> = companies::table
        .find(id)
        .filter(companies::group_id.eq(group))
        .select(companies::currency)
        .first(conn)
        .await
        .optional()?;
    Ok(code.as_deref().and_then(CurrencyCode::parse))
}

#[derive(Queryable)]
struct ProductTerms {
    id: Uuid,
    category_id: Uuid,
    seller_company_id: Uuid,
    list_price: Decimal,
    unit_cost: Decimal,
    active: bool,
    intercompany_eligible: bool,
}

/// Prices `request` for `group` on `date` under the seller's policies. Buyer and seller must be
/// two companies of the group (422 `not_intercompany`); every product sold by the seller,
/// active and open to intercompany trade (422 `not_eligible`); every line covered by a policy
/// (422 `no_transfer_pricing_policy`).
pub async fn price(
    conn: &mut AsyncPgConnection,
    group: Uuid,
    request: &Requested,
    date: NaiveDate,
) -> Result<Priced, ApiError> {
    if request.buyer == request.seller {
        return Err(not_intercompany(
            "buyer_company_id: buyer and seller must be two different companies",
        ));
    }
    if company_currency(conn, group, request.buyer)
        .await?
        .is_none()
    {
        return Err(not_intercompany(
            "buyer_company_id: not a company of your group",
        ));
    }
    let currency = company_currency(conn, group, request.seller)
        .await?
        .ok_or_else(|| not_intercompany("seller_company_id: not a company of your group"))?;
    let ids: Vec<Uuid> = request.lines.iter().map(|(id, _)| *id).collect();
    let found: HashMap<Uuid, ProductTerms> = products::table
        .filter(products::group_id.eq(group))
        .filter(products::id.eq_any(&ids))
        .select((
            products::id,
            products::category_id,
            products::seller_company_id,
            products::list_price,
            products::unit_cost,
            products::active,
            products::intercompany_eligible,
        ))
        .load::<ProductTerms>(conn)
        .await?
        .into_iter()
        .map(|p| (p.id, p))
        .collect();
    let terms: Vec<transfer_pricing::PolicyTerms> = policies::table
        .filter(policies::group_id.eq(group))
        .filter(policies::seller_company_id.eq(request.seller))
        .filter(
            policies::buyer_company_id
                .is_null()
                .or(policies::buyer_company_id.eq(request.buyer)),
        )
        .filter(policies::valid_from.le(date))
        .filter(policies::valid_to.is_null().or(policies::valid_to.ge(date)))
        .select(PolicyRow::as_select())
        // Shared locks: a change of terms or a new version (which lock the policy for update)
        // waits until the order priced with it has committed, then sees its lines.
        .for_share()
        .load::<PolicyRow>(conn)
        .await?
        .iter()
        .map(PolicyRow::terms)
        .collect::<Result<_, _>>()?;
    let mut priced = Vec::with_capacity(request.lines.len());
    for (index, (id, quantity)) in request.lines.iter().enumerate() {
        let product = found
            .get(id)
            .filter(|p| p.seller_company_id == request.seller && p.active && p.intercompany_eligible)
            .ok_or_else(|| ApiError::Rule {
                status: actix_web::http::StatusCode::UNPROCESSABLE_ENTITY,
                code: "not_eligible",
                detail: format!(
                    "lines[{index}].product_id: not an active product of the seller open to intercompany orders"
                ),
            })?;
        let policy = transfer_pricing::select(&terms, request.buyer, product.category_id, date)
            .ok_or_else(|| {
                ApiError::unprocessable(
                    "no_transfer_pricing_policy",
                    format!(
                        "lines[{index}].product_id: no transfer-pricing policy of the seller covers \
                         this product for this buyer on {date}"
                    ),
                )
            })?;
        let line = transfer_pricing::price_line(
            policy,
            product.unit_cost,
            product.list_price,
            u32::try_from(*quantity).unwrap_or(u32::MAX),
            currency,
        )?;
        priced.push((*id, *quantity, line));
    }
    let total = crate::domain::money::sum(priced.iter().map(|(_, _, l)| l.line_total))?;
    Ok(Priced {
        buyer: request.buyer,
        seller: request.seller,
        currency,
        order_date: date,
        lines: priced,
        total,
    })
}

/// A percentage as the API writes it: without trailing zeros.
fn percent_text(value: Decimal) -> String {
    value.normalize().to_string()
}

fn line_view(
    product_id: Uuid,
    quantity: i32,
    line: &PricedLine,
    currency: CurrencyCode,
) -> IcLineView {
    IcLineView {
        product_id,
        quantity,
        policy_id: line.policy_id,
        method: line.method,
        percent: percent_text(line.percent),
        min_markup_percent: line.range.min.map(percent_text),
        max_markup_percent: line.range.max.map(percent_text),
        unit_cost: money::format(line.unit_cost, currency),
        unit_transfer_price: money::format(line.unit_transfer_price, currency),
        line_total: money::format(line.line_total, currency),
        markup_percent: line.markup_percent.map(|m| m.normalize().to_string()),
        outside_arms_length_range: line.outside_arms_length_range,
    }
}

pub fn quote_view(priced: &Priced) -> IcQuoteView {
    IcQuoteView {
        buyer_company_id: priced.buyer,
        seller_company_id: priced.seller,
        currency: priced.currency.to_string(),
        lines: priced
            .lines
            .iter()
            .map(|(id, quantity, line)| line_view(*id, *quantity, line, priced.currency))
            .collect(),
        total: money::format(priced.total, priced.currency),
        order_date: priced.order_date,
    }
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = orders)]
pub struct OrderRow {
    pub id: Uuid,
    pub number: String,
    pub status: Status,
    pub buyer_company_id: Uuid,
    pub seller_company_id: Uuid,
    pub currency: String,
    pub total: Decimal,
    pub order_date: NaiveDate,
    pub promised_date: Option<NaiveDate>,
    pub ship_date: Option<NaiveDate>,
    pub settle_date: Option<NaiveDate>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl OrderRow {
    pub fn status(&self) -> Result<Status, ApiError> {
        Ok(self.status)
    }

    pub fn currency(&self) -> Result<CurrencyCode, ApiError> {
        CurrencyCode::parse(&self.currency)
            .ok_or_else(|| ApiError::internal(format!("unknown currency {}", self.currency)))
    }
}

#[derive(Debug, Queryable, Selectable)]
#[diesel(table_name = lines)]
struct LineRow {
    order_id: Uuid,
    product_id: Uuid,
    quantity: i32,
    policy_id: Uuid,
    method: String,
    percent: Decimal,
    min_markup_percent: Option<Decimal>,
    max_markup_percent: Option<Decimal>,
    unit_cost: Decimal,
    unit_transfer_price: Decimal,
    line_total: Decimal,
    markup_percent: Option<Decimal>,
    outside_arms_length_range: bool,
}

#[derive(Debug, Queryable, Selectable)]
#[diesel(table_name = entries)]
struct EntryRow {
    order_id: Option<Uuid>,
    company_id: Uuid,
    kind: String,
    amount: Decimal,
    currency: String,
    document_amount: Decimal,
    document_currency: String,
    rate: Decimal,
    date: NaiveDate,
}

fn amount_text(amount: Decimal, currency: &str) -> String {
    match CurrencyCode::parse(currency) {
        Some(code) => money::format(amount, code),
        None => amount.normalize().to_string(),
    }
}

/// Inserts a priced order and its lines; returns the new order's row.
pub async fn insert(
    conn: &mut AsyncPgConnection,
    group: Uuid,
    created_by: Uuid,
    priced: &Priced,
    now: DateTime<Utc>,
) -> Result<OrderRow, ApiError> {
    let row: OrderRow = diesel::insert_into(orders::table)
        .values((
            orders::group_id.eq(group),
            orders::status.eq(Status::Requested.as_str()),
            orders::buyer_company_id.eq(priced.buyer),
            orders::seller_company_id.eq(priced.seller),
            orders::currency.eq(priced.currency.as_str()),
            orders::total.eq(priced.total),
            orders::order_date.eq(priced.order_date),
            orders::created_by.eq(created_by),
            orders::created_at.eq(now),
            orders::updated_at.eq(now),
        ))
        .returning(OrderRow::as_returning())
        .get_result(conn)
        .await?;
    let values: Vec<_> = priced
        .lines
        .iter()
        .zip(1..)
        .map(
            |((product_id, quantity, line), line_no): (&(Uuid, i32, PricedLine), i32)| {
                (
                    lines::group_id.eq(group),
                    lines::order_id.eq(row.id),
                    lines::line_no.eq(line_no),
                    lines::product_id.eq(*product_id),
                    lines::quantity.eq(*quantity),
                    lines::policy_id.eq(line.policy_id),
                    lines::method.eq(line.method.as_str()),
                    lines::percent.eq(line.percent),
                    lines::min_markup_percent.eq(line.range.min),
                    lines::max_markup_percent.eq(line.range.max),
                    lines::unit_cost.eq(line.unit_cost),
                    lines::unit_transfer_price.eq(line.unit_transfer_price),
                    lines::line_total.eq(line.line_total),
                    lines::markup_percent.eq(line.markup_percent),
                    lines::outside_arms_length_range.eq(line.outside_arms_length_range),
                )
            },
        )
        .collect();
    diesel::insert_into(lines::table)
        .values(&values)
        .execute(conn)
        .await?;
    Ok(row)
}

/// The views of `rows`, with their lines and entries read in two queries.
pub async fn views(
    conn: &mut AsyncPgConnection,
    rows: Vec<OrderRow>,
) -> Result<Vec<IcOrderView>, ApiError> {
    let ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
    let mut lines_of: HashMap<Uuid, Vec<LineRow>> = HashMap::new();
    for line in lines::table
        .filter(lines::order_id.eq_any(&ids))
        .order((lines::order_id, lines::line_no))
        .select(LineRow::as_select())
        .load::<LineRow>(conn)
        .await?
    {
        lines_of.entry(line.order_id).or_default().push(line);
    }
    let mut entries_of: HashMap<Uuid, Vec<EntryRow>> = HashMap::new();
    for entry in entries::table
        .filter(entries::order_id.eq_any(&ids))
        .order(entries::seq)
        .select(EntryRow::as_select())
        .load::<EntryRow>(conn)
        .await?
    {
        if let Some(order) = entry.order_id {
            entries_of.entry(order).or_default().push(entry);
        }
    }
    rows.into_iter()
        .map(|row| {
            let currency = row.currency()?;
            let lines = lines_of
                .remove(&row.id)
                .unwrap_or_default()
                .into_iter()
                .map(|l| {
                    let method = Method::parse(&l.method)
                        .ok_or_else(|| ApiError::internal("unknown transfer-pricing method"))?;
                    Ok(IcLineView {
                        product_id: l.product_id,
                        quantity: l.quantity,
                        policy_id: l.policy_id,
                        method,
                        percent: percent_text(l.percent),
                        min_markup_percent: l.min_markup_percent.map(percent_text),
                        max_markup_percent: l.max_markup_percent.map(percent_text),
                        unit_cost: money::format(l.unit_cost, currency),
                        unit_transfer_price: money::format(l.unit_transfer_price, currency),
                        line_total: money::format(l.line_total, currency),
                        markup_percent: l.markup_percent.map(|m| m.normalize().to_string()),
                        outside_arms_length_range: l.outside_arms_length_range,
                    })
                })
                .collect::<Result<Vec<_>, ApiError>>()?;
            let entries = entries_of
                .remove(&row.id)
                .unwrap_or_default()
                .into_iter()
                .map(|e| {
                    Ok(EntryView {
                        company_id: e.company_id,
                        kind: EntryKind::parse(&e.kind)
                            .ok_or_else(|| ApiError::internal("unknown entry kind"))?,
                        amount: amount_text(e.amount, &e.currency),
                        document_amount: amount_text(e.document_amount, &e.document_currency),
                        currency: e.currency,
                        document_currency: e.document_currency,
                        rate: e.rate.normalize().to_string(),
                        date: e.date,
                    })
                })
                .collect::<Result<Vec<_>, ApiError>>()?;
            let status = row.status()?;
            Ok(IcOrderView {
                id: row.id,
                number: row.number,
                status,
                buyer_company_id: row.buyer_company_id,
                seller_company_id: row.seller_company_id,
                total: money::format(row.total, currency),
                currency: row.currency,
                lines,
                entries,
                order_date: row.order_date,
                promised_date: row.promised_date,
                ship_date: row.ship_date,
                settle_date: row.settle_date,
                created_at: row.created_at,
                updated_at: row.updated_at,
            })
        })
        .collect()
}

/// The order `id` of `group`, locked for a transition.
pub async fn lock(
    conn: &mut AsyncPgConnection,
    group: Uuid,
    id: Uuid,
) -> Result<Option<OrderRow>, ApiError> {
    Ok(orders::table
        .find(id)
        .filter(orders::group_id.eq(group))
        .select(OrderRow::as_select())
        .for_update()
        .first(conn)
        .await
        .optional()?)
}

pub async fn find(
    conn: &mut AsyncPgConnection,
    group: Uuid,
    id: Uuid,
) -> Result<Option<OrderRow>, ApiError> {
    Ok(orders::table
        .find(id)
        .filter(orders::group_id.eq(group))
        .select(OrderRow::as_select())
        .first(conn)
        .await
        .optional()?)
}

/// The quantities of an order's lines, for taking stock.
pub async fn quantities(
    conn: &mut AsyncPgConnection,
    id: Uuid,
) -> Result<Vec<(Uuid, i32)>, ApiError> {
    Ok(lines::table
        .filter(lines::order_id.eq(id))
        .select((lines::product_id, lines::quantity))
        .load(conn)
        .await?)
}
