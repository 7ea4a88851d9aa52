//! Transfer-pricing exceptions (§6): every line shipped in a month whose markup on cost fell
//! outside the arm's-length range it was priced under (the terms kept on the line). JSON pages
//! and CSV; a closed month answers the list stored when it closed.

use actix_web::{get, web, HttpRequest, HttpResponse};
use chrono::{DateTime, NaiveDate, Utc};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Date, Integer, Nullable, Numeric, Text, Uuid as SqlUuid};
use diesel_async::{AsyncConnection as _, AsyncPgConnection, RunQueryDsl};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::csv::{csv, moment, wants_csv, Column};
use crate::db::statement::statement;
use crate::domain::codes::CurrencyCode;
use crate::domain::money;
use crate::error::ApiError;
use crate::frozen::{self, Figures, Report};
use crate::identity::auth::{Authorized, Finance};
use crate::ids::GroupId;
use crate::pagination::Page;
use crate::state::AppState;

crate::paged_query! {
    pub struct ExceptionsQuery {
        /// `YYYY-MM`: the lines shipped in that month.
        #[param(pattern = r"^[0-9]{4}-(0[1-9]|1[0-2])$")]
        pub period: String,
    }
    limit: "1–100, default 20 (JSON only; CSV answers every line)."
}

/// One shipped line outside its arm's-length range.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ExceptionLine {
    pub order_id: Uuid,
    pub number: String,
    /// The line's position in its order (1-based).
    pub line_no: i32,
    pub seller_company_id: Uuid,
    pub buyer_company_id: Uuid,
    pub product_id: Uuid,
    pub quantity: i32,
    /// The document currency (the seller's).
    pub currency: String,
    pub unit_cost: String,
    pub unit_transfer_price: String,
    /// Markup on cost in percent; null when the unit cost is zero.
    pub markup_percent: Option<String>,
    pub min_markup_percent: Option<String>,
    pub max_markup_percent: Option<String>,
    pub policy_id: Uuid,
    pub ship_date: NaiveDate,
}

/// A month's exceptions in full: what a closed month stores.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ExceptionsReport {
    pub period: String,
    pub items: Vec<ExceptionLine>,
    /// When the month was closed (null while open).
    pub closed_at: Option<DateTime<Utc>>,
}

/// A page of a month's exceptions (JSON).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ExceptionsPage {
    pub period: String,
    pub items: Vec<ExceptionLine>,
    /// Pass as `cursor` to get the next page; null on the last page.
    pub next_cursor: Option<String>,
    /// When the month was closed (null while open): a closed month's pages are read from the
    /// lines stored when it closed.
    pub closed_at: Option<DateTime<Utc>>,
}

#[derive(QueryableByName)]
struct Row {
    #[diesel(sql_type = SqlUuid)]
    order_id: Uuid,
    #[diesel(sql_type = Text)]
    number: String,
    #[diesel(sql_type = Integer)]
    line_no: i32,
    #[diesel(sql_type = SqlUuid)]
    seller_company_id: Uuid,
    #[diesel(sql_type = SqlUuid)]
    buyer_company_id: Uuid,
    #[diesel(sql_type = SqlUuid)]
    product_id: Uuid,
    #[diesel(sql_type = Integer)]
    quantity: i32,
    #[diesel(sql_type = Text)]
    currency: CurrencyCode,
    #[diesel(sql_type = Numeric)]
    unit_cost: Decimal,
    #[diesel(sql_type = Numeric)]
    unit_transfer_price: Decimal,
    #[diesel(sql_type = Nullable<Numeric>)]
    markup_percent: Option<Decimal>,
    #[diesel(sql_type = Nullable<Numeric>)]
    min_markup_percent: Option<Decimal>,
    #[diesel(sql_type = Nullable<Numeric>)]
    max_markup_percent: Option<Decimal>,
    #[diesel(sql_type = SqlUuid)]
    policy_id: Uuid,
    #[diesel(sql_type = Date)]
    ship_date: NaiveDate,
}

impl Row {
    fn view(self) -> Result<ExceptionLine, ApiError> {
        let currency = self.currency;
        let percent = |d: Decimal| d.normalize().to_string();
        Ok(ExceptionLine {
            order_id: self.order_id,
            number: self.number,
            line_no: self.line_no,
            seller_company_id: self.seller_company_id,
            buyer_company_id: self.buyer_company_id,
            product_id: self.product_id,
            quantity: self.quantity,
            currency: self.currency.to_string(),
            unit_cost: money::format(self.unit_cost, currency),
            unit_transfer_price: money::format(self.unit_transfer_price, currency),
            markup_percent: self.markup_percent.map(percent),
            min_markup_percent: self.min_markup_percent.map(percent),
            max_markup_percent: self.max_markup_percent.map(percent),
            policy_id: self.policy_id,
            ship_date: self.ship_date,
        })
    }
}

/// The exceptions of [first, next) after `after` (number, line), at most `limit` of them.
async fn lines(
    conn: &mut AsyncPgConnection,
    group: GroupId,
    (first, next): (NaiveDate, NaiveDate),
    after: Option<(String, i32)>,
    limit: i64,
) -> Result<Vec<ExceptionLine>, ApiError> {
    let (after_number, after_line) = after.unzip();
    let rows: Vec<Row> = statement(include_str!("exceptions.sql"))
        .bind::<SqlUuid, _>(group)
        .bind::<Date, _>(first)
        .bind::<Date, _>(next)
        .bind::<Nullable<Text>, _>(after_number)
        .bind::<Nullable<Integer>, _>(after_line)
        .bind::<BigInt, _>(limit)
        .load(conn)
        .await?;
    rows.into_iter().map(Row::view).collect()
}

fn month(raw: &str, today: NaiveDate) -> Result<(NaiveDate, NaiveDate), ApiError> {
    let month = crate::validation::period(raw)?;
    let (first, next) = (month.first(), month.next());
    if first > today {
        return Err(ApiError::invalid_field(
            "period",
            "must not be in the future",
        ));
    }
    Ok((first, next))
}

/// Every exception of `period` as it stands now (in the caller's transaction).
pub async fn compute(
    conn: &mut AsyncPgConnection,
    group: GroupId,
    period: &str,
    today: NaiveDate,
    closed_at: Option<DateTime<Utc>>,
) -> Result<ExceptionsReport, ApiError> {
    let bounds = month(period, today)?;
    Ok(ExceptionsReport {
        period: period.to_owned(),
        items: lines(conn, group, bounds, None, i64::MAX).await?,
        closed_at,
    })
}

const COLUMNS: [Column; 16] = crate::csv_columns![
    order_id, number, line_no, seller_company_id, buyer_company_id, product_id, quantity, currency,
    #unit_cost, #unit_transfer_price, #markup_percent, #min_markup_percent, #max_markup_percent,
    policy_id, ship_date, closed_at,
];

fn csv_answer(report: &ExceptionsReport) -> HttpResponse {
    let opt = |v: &Option<String>| v.clone().unwrap_or_default();
    let closed = moment(report.closed_at);
    csv(
        &COLUMNS,
        report.items.iter().map(|l| {
            vec![
                l.order_id.to_string(),
                l.number.clone(),
                l.line_no.to_string(),
                l.seller_company_id.to_string(),
                l.buyer_company_id.to_string(),
                l.product_id.to_string(),
                l.quantity.to_string(),
                l.currency.clone(),
                l.unit_cost.clone(),
                l.unit_transfer_price.clone(),
                opt(&l.markup_percent),
                opt(&l.min_markup_percent),
                opt(&l.max_markup_percent),
                l.policy_id.to_string(),
                l.ship_date.to_string(),
                closed.clone(),
            ]
        }),
    )
}

/// Transfer-pricing exceptions of a month (finance): every line shipped in it whose markup on
/// cost fell outside the range it was priced under, in order number and line order. Keyset
/// pages in JSON; every line in CSV (`Accept: text/csv`). A closed month answers the lines
/// stored when it closed.
#[utoipa::path(
    tag = "intercompany", params(ExceptionsQuery), security(("bearer" = ["finance"])),
    responses(
        (status = 200, description = "A page; CSV with `Accept: text/csv`",
            content((ExceptionsPage = "application/json"), (String = "text/csv"))),
        (status = 422, description = "A future period")
    )
)]
#[get("/transfer-pricing/exceptions")]
pub async fn exceptions(
    user: Authorized<Finance>,
    state: web::Data<AppState>,
    req: HttpRequest,
    query: crate::json::Query<ExceptionsQuery>,
) -> Result<HttpResponse, ApiError> {
    let page = query.page::<(String, i32)>()?;
    let group = user.group_id;
    let whole = wants_csv(&req);
    let now = state.clock.now();
    let answer = state
        .reads
        .read(0, async |conn| {
            conn.transaction::<_, ApiError, _>(async |conn| {
                let today = crate::bookings::today(conn, group, now).await?;
                let bounds = month(&query.period, today)?;
                let stored =
                    frozen::load(conn, group, bounds.0, Report::TransferPricingExceptions).await?;
                if let Some(body) = stored {
                    let report = Figures::<ExceptionsReport>::Stored(body).view()?;
                    if whole {
                        return Ok(Err(report));
                    }
                    let closed_at = report.closed_at;
                    let rows: Vec<ExceptionLine> = report
                        .items
                        .into_iter()
                        .filter(|l| {
                            page.after.as_ref().is_none_or(|(number, line)| {
                                (l.number.as_str(), l.line_no) > (number.as_str(), *line)
                            })
                        })
                        .take(usize::try_from(page.fetch()).unwrap_or(usize::MAX))
                        .collect();
                    return Ok(Ok((rows, closed_at)));
                }
                if whole {
                    return Ok(Err(compute(conn, group, &query.period, today, None).await?));
                }
                let rows = lines(conn, group, bounds, page.after.clone(), page.fetch()).await?;
                Ok(Ok((rows, None)))
            })
            .await
        })
        .await?;
    Ok(match answer {
        Err(report) => csv_answer(&report),
        Ok((rows, closed_at)) => {
            let Page { items, next_cursor } = page.of(rows, |l| (l.number.clone(), l.line_no));
            HttpResponse::Ok().json(ExceptionsPage {
                period: query.period.clone(),
                items,
                next_cursor,
                closed_at,
            })
        }
    })
}
