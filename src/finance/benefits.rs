//! The employee-benefits report (§7): per employee, the discounts of the orders fulfilled in
//! a year in the group currency, split into qualified discount and taxable excess under the
//! employer's rule with the seller's percentage. This is the payroll export: with
//! `Accept: text/csv` it streams CSV, a chunk of employees at a time, in constant memory.

use std::collections::BTreeMap;

use actix_web::web::Bytes;
use actix_web::{get, web, HttpRequest, HttpResponse};
use chrono::{DateTime, NaiveDate, Utc};
use diesel::sql_types::{Bool, Nullable, Numeric, Text, Timestamptz, Uuid as SqlUuid};
use diesel::QueryableByName;
use diesel_async::{AsyncConnection as _, AsyncPgConnection, RunQueryDsl};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::reports::{currency, wants_csv};
use crate::db::statement::statement;
use crate::domain::benefits::{self, Line};
use crate::domain::codes::CurrencyCode;
use crate::domain::kinds::{BenefitTaxRule, ClientType, ProductKind};
use crate::domain::money;
use crate::error::ApiError;
use crate::identity::auth::{Authorized, Finance};
use crate::pagination::{encode_cursor, PageRequest};
use crate::state::AppState;

/// Employees per database round trip (JSON page size is `limit`).
const CHUNK: i64 = 1000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum GroupBy {
    Company,
    ClientType,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct BenefitsQuery {
    /// 2000–2100.
    #[param(minimum = 2000, maximum = 2100)]
    pub year: i32,
    /// Totals per employer company or per client type instead of per employee.
    pub group_by: Option<GroupBy>,
    /// Employees per page, 1–100 (default 20); ignored with `group_by` and for CSV.
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    #[param(pattern = r"^[A-Za-z0-9_-]+$", max_length = 1024)]
    pub cursor: Option<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct BenefitItem {
    /// Null when grouped.
    pub employee_id: Option<Uuid>,
    /// The employer (null when grouped by client type).
    pub company_id: Option<Uuid>,
    /// Null when grouped by company.
    pub client_type: Option<String>,
    pub orders: i64,
    pub list_total: String,
    pub discount_total: String,
    pub qualified_discount: String,
    pub taxable_excess: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct BenefitsReport {
    pub year: i32,
    pub currency: String,
    pub group_by: Option<GroupBy>,
    pub items: Vec<BenefitItem>,
    pub next_cursor: Option<String>,
}

#[derive(QueryableByName)]
struct LineRow {
    #[diesel(sql_type = SqlUuid)]
    employee_id: Uuid,
    #[diesel(sql_type = SqlUuid)]
    company_id: Uuid,
    #[diesel(sql_type = Text)]
    client_type: ClientType,
    #[diesel(sql_type = SqlUuid)]
    order_id: Uuid,
    #[diesel(sql_type = Numeric)]
    fx_rate: Decimal,
    #[diesel(sql_type = Numeric)]
    line_list_total: Decimal,
    #[diesel(sql_type = Numeric)]
    line_discount: Decimal,
    #[diesel(sql_type = Text)]
    kind: ProductKind,
    #[diesel(sql_type = Bool)]
    offered_to_customers: bool,
    #[diesel(sql_type = Nullable<Numeric>)]
    seller_gp: Option<Decimal>,
    #[diesel(sql_type = Nullable<Text>)]
    seller_lob: Option<String>,
    #[diesel(sql_type = Text)]
    employer_rule: BenefitTaxRule,
    #[diesel(sql_type = Nullable<Text>)]
    employer_lob: Option<String>,
}

/// Sums of one employee (or group of them), in the group currency.
#[derive(Debug, Clone, Default)]
struct Totals {
    employee_id: Option<Uuid>,
    company_id: Option<Uuid>,
    client_type: Option<ClientType>,
    orders: i64,
    last_order: Option<Uuid>,
    list_total: Decimal,
    discount_total: Decimal,
    qualified: Decimal,
    taxable: Decimal,
}

/// What decides a line's split: its amounts and the order's rate to the group currency, and the
/// facts the rule reads. Lines alike in all of these split alike.
#[derive(QueryableByName)]
struct LineFacts {
    /// In the order currency, with the order's rate to the group currency.
    #[diesel(sql_type = Numeric)]
    line_list_total: Decimal,
    #[diesel(sql_type = Numeric)]
    line_discount: Decimal,
    #[diesel(sql_type = Numeric)]
    fx_rate: Decimal,
    #[diesel(sql_type = Text)]
    kind: ProductKind,
    #[diesel(sql_type = Bool)]
    offered_to_customers: bool,
    #[diesel(sql_type = Nullable<Numeric>)]
    seller_gp: Option<Decimal>,
    #[diesel(sql_type = Nullable<Text>)]
    seller_lob: Option<String>,
    #[diesel(sql_type = Text)]
    employer_rule: BenefitTaxRule,
    #[diesel(sql_type = Nullable<Text>)]
    employer_lob: Option<String>,
}

/// A row of the grouped report: `lines` alike lines of one group, `orders` of which are
/// their order's first line.
#[derive(QueryableByName)]
struct GroupedRow {
    #[diesel(sql_type = Nullable<SqlUuid>)]
    company_id: Option<Uuid>,
    #[diesel(sql_type = Nullable<Text>)]
    client_type: Option<ClientType>,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    lines: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    orders: i64,
    #[diesel(embed)]
    facts: LineFacts,
}

impl LineRow {
    fn facts(&self) -> LineFacts {
        LineFacts {
            line_list_total: self.line_list_total,
            line_discount: self.line_discount,
            fx_rate: self.fx_rate,
            kind: self.kind,
            offered_to_customers: self.offered_to_customers,
            seller_gp: self.seller_gp,
            seller_lob: self.seller_lob.clone(),
            employer_rule: self.employer_rule,
            employer_lob: self.employer_lob.clone(),
        }
    }
}

impl Totals {
    fn add(&mut self, row: &LineRow, currency: CurrencyCode) -> Result<(), ApiError> {
        if self.last_order != Some(row.order_id) {
            self.orders += 1;
            self.last_order = Some(row.order_id);
        }
        self.add_lines(&row.facts(), 1, currency)
    }

    /// Adds `count` lines alike in `facts`: each rounded and split by the domain rule once,
    /// then counted `count` times, which is exactly the sum of the lines one by one.
    fn add_lines(
        &mut self,
        facts: &LineFacts,
        count: i64,
        currency: CurrencyCode,
    ) -> Result<(), ApiError> {
        // Converted in Rust on both paths (per employee and grouped), so they agree exactly.
        let list_total = money::round(money::mul(facts.line_list_total, facts.fx_rate)?, currency);
        let discount = money::round(money::mul(facts.line_discount, facts.fx_rate)?, currency);
        let split = benefits::split(
            facts.employer_rule,
            Line {
                list_total,
                discount,
                service: facts.kind == ProductKind::Service,
                qualifies: facts.offered_to_customers
                    && benefits::same_line_of_business(
                        facts.seller_lob.as_deref(),
                        facts.employer_lob.as_deref(),
                    ),
                seller_gross_profit_percent: facts.seller_gp,
            },
            currency,
        )?;
        let times = |amount: Decimal| money::mul(amount, Decimal::from(count));
        self.list_total = money::add(self.list_total, times(list_total)?)?;
        self.discount_total = money::add(self.discount_total, times(discount)?)?;
        self.qualified = money::add(self.qualified, times(split.qualified)?)?;
        self.taxable = money::add(self.taxable, times(split.taxable)?)?;
        Ok(())
    }

    fn item(&self, currency: CurrencyCode) -> BenefitItem {
        BenefitItem {
            employee_id: self.employee_id,
            company_id: self.company_id,
            client_type: self.client_type.map(|t| t.to_string()),
            orders: self.orders,
            list_total: money::format(self.list_total, currency),
            discount_total: money::format(self.discount_total, currency),
            qualified_discount: money::format(self.qualified, currency),
            taxable_excess: money::format(self.taxable, currency),
        }
    }

    fn csv(&self, currency: CurrencyCode) -> String {
        let item = self.item(currency);
        let text = |v: Option<String>| v.unwrap_or_default();
        format!(
            "{},{},{},{},{},{},{},{},{}\n",
            text(item.employee_id.map(|i| i.to_string())),
            text(item.company_id.map(|i| i.to_string())),
            text(item.client_type),
            item.orders,
            item.list_total,
            item.discount_total,
            item.qualified_discount,
            item.taxable_excess,
            currency
        )
    }
}

const CSV_HEADER: &str = "employee_id,company_id,client_type,orders,list_total,discount_total,qualified_discount,taxable_excess,currency\n";

/// The next `limit` employees after `after` with orders fulfilled in [from, to), summed.
async fn chunk(
    conn: &mut AsyncPgConnection,
    group: Uuid,
    (from, to): (DateTime<Utc>, DateTime<Utc>),
    after: Uuid,
    limit: i64,
    currency: CurrencyCode,
) -> Result<Vec<Totals>, ApiError> {
    let rows: Vec<LineRow> = statement(
        "WITH chosen AS ( \
             SELECT DISTINCT o.employee_id FROM orders o \
             WHERE o.group_id = $1 AND o.status = 'fulfilled' \
                 AND o.fulfilled_at >= $2 AND o.fulfilled_at < $3 AND o.employee_id > $4 \
             ORDER BY 1 LIMIT $5) \
         SELECT o.employee_id, e.company_id, e.client_type, o.id AS order_id, o.fx_rate, \
                l.line_list_total, l.line_discount, p.kind, p.offered_to_customers, \
                s.qualified_discount_gp_percent AS seller_gp, s.line_of_business AS seller_lob, \
                ec.benefit_tax_rule AS employer_rule, ec.line_of_business AS employer_lob \
         FROM chosen c \
         JOIN orders o ON o.employee_id = c.employee_id AND o.group_id = $1 \
             AND o.status = 'fulfilled' AND o.fulfilled_at >= $2 AND o.fulfilled_at < $3 \
         JOIN order_lines l ON l.order_id = o.id \
         JOIN products p ON p.id = l.product_id \
         JOIN employees e ON e.id = o.employee_id \
         JOIN companies ec ON ec.id = e.company_id \
         JOIN companies s ON s.id = o.seller_company_id \
         ORDER BY o.employee_id, o.id, l.line_no",
    )
    .bind::<SqlUuid, _>(group)
    .bind::<Timestamptz, _>(from)
    .bind::<Timestamptz, _>(to)
    .bind::<SqlUuid, _>(after)
    .bind::<diesel::sql_types::BigInt, _>(limit)
    .load(conn)
    .await?;
    let mut out: Vec<Totals> = Vec::new();
    for row in &rows {
        if out.last().map(|t| t.employee_id) != Some(Some(row.employee_id)) {
            out.push(Totals {
                employee_id: Some(row.employee_id),
                company_id: Some(row.company_id),
                client_type: Some(row.client_type),
                ..Totals::default()
            });
        }
        if let Some(last) = out.last_mut() {
            last.add(row, currency)?;
        }
    }
    Ok(out)
}

/// Employee benefits of a year (finance): per employee (or per employer company or client type
/// with `group_by`), the fulfilled orders' list total, discount, qualified discount and taxable
/// excess in the group currency. `Accept: text/csv` streams the payroll export.
#[utoipa::path(
    tag = "finance",
    params(BenefitsQuery),
    security(("bearer" = ["finance"])),
    responses((status = 200, description = "The report; CSV with `Accept: text/csv`",
               content((BenefitsReport = "application/json"), (String = "text/csv"))))
)]
#[get("/finance/employee-benefits")]
#[tracing::instrument(skip_all)]
pub async fn employee_benefits(
    user: Authorized<Finance>,
    state: web::Data<AppState>,
    req: HttpRequest,
    query: crate::json::Query<BenefitsQuery>,
) -> Result<HttpResponse, ApiError> {
    let year = query.year;
    let (Some(from), Some(to)) = (
        NaiveDate::from_ymd_opt(year, 1, 1).filter(|_| (2000..=2100).contains(&year)),
        NaiveDate::from_ymd_opt(year.saturating_add(1), 1, 1),
    ) else {
        return Err(ApiError::bad_field(
            "year",
            "must be a year between 2000 and 2100",
        ));
    };
    // `limit` and `cursor` are validated even where they are ignored (with `group_by`, for
    // CSV), as the document states their bounds for every call.
    PageRequest::<Uuid>::parse(query.limit, query.cursor.as_deref())?;
    let group = user.group_id;
    let mut conn = state.pool.get().await?;
    // The year of the group's calendar: from its local midnight of January 1st.
    let zone = crate::identity::queries::group_zone(&mut conn, group).await?;
    let (from, to) = (zone.start(from), zone.start(to));
    let code = crate::identity::queries::group_currency(&mut conn, group).await?;
    let group_currency = currency(&code)?;

    if let Some(by) = query.group_by {
        // One aggregate over the year's lines, counted per group and per what decides a
        // line's split (product, seller, employer, amounts and rate): lines alike split alike,
        // so each set is split once by the domain rule and counted `lines` times. The facts of
        // products and companies are joined to the counted sets (a few thousand rows), not to
        // every line. Every order has exactly one line numbered 1 (lines are numbered from 1,
        // and an order holds at least one), so counting those counts the orders.
        let by_company = by == GroupBy::Company;
        let rows: Vec<GroupedRow> = conn
            .transaction::<_, ApiError, _>(async |conn| {
                super::reports::report_mode(conn).await?;
                // The counted sets are few but the planner cannot know it; with room for a
                // hash aggregate it does not sort 200 000 lines to disk.
                diesel::sql_query("SET LOCAL work_mem = '64MB'")
                    .execute(conn)
                    .await?;
                Ok(statement(
                    "WITH counted AS ( \
                         SELECT CASE WHEN $4 THEN e.company_id END AS company_id, \
                                CASE WHEN NOT $4 THEN e.client_type END AS client_type, \
                                l.product_id, o.seller_company_id, e.company_id AS employer_id, \
                                o.fx_rate, l.line_list_total, l.line_discount, count(*) AS lines, \
                                count(*) FILTER (WHERE l.line_no = 1) AS orders \
                         FROM orders o \
                         JOIN employees e ON e.id = o.employee_id \
                         JOIN order_lines l ON l.order_id = o.id \
                         WHERE o.group_id = $1 AND o.status = 'fulfilled' \
                             AND o.fulfilled_at >= $2 AND o.fulfilled_at < $3 \
                         GROUP BY 1, 2, 3, 4, 5, 6, 7, 8) \
                     SELECT c.company_id, c.client_type, c.lines, c.orders, \
                            c.line_list_total, c.line_discount, c.fx_rate, \
                            p.kind, p.offered_to_customers, \
                            s.qualified_discount_gp_percent AS seller_gp, \
                            s.line_of_business AS seller_lob, \
                            ec.benefit_tax_rule AS employer_rule, ec.line_of_business AS employer_lob \
                     FROM counted c \
                     JOIN products p ON p.id = c.product_id \
                     JOIN companies s ON s.id = c.seller_company_id \
                     JOIN companies ec ON ec.id = c.employer_id",
                )
                .bind::<SqlUuid, _>(group)
                .bind::<Timestamptz, _>(from)
                .bind::<Timestamptz, _>(to)
                .bind::<Bool, _>(by_company)
                .load(conn)
                .await?)
            })
            .await?;
        let mut groups: BTreeMap<String, Totals> = BTreeMap::new();
        for row in &rows {
            let key = match by {
                GroupBy::Company => row.company_id.map(|id| id.to_string()),
                GroupBy::ClientType => row.client_type.map(|t| t.to_string()),
            }
            .unwrap_or_default();
            let totals = groups.entry(key).or_insert_with(|| Totals {
                company_id: row.company_id,
                client_type: row.client_type,
                ..Totals::default()
            });
            totals.orders = totals.orders.saturating_add(row.orders);
            totals.add_lines(&row.facts, row.lines, group_currency)?;
        }
        if wants_csv(&req) {
            let mut body = String::from(CSV_HEADER);
            for totals in groups.values() {
                body.push_str(&totals.csv(group_currency));
            }
            return Ok(HttpResponse::Ok()
                .content_type("text/csv; charset=utf-8")
                .body(body));
        }
        return Ok(HttpResponse::Ok().json(BenefitsReport {
            year,
            currency: group_currency.to_string(),
            group_by: Some(by),
            items: groups.values().map(|t| t.item(group_currency)).collect(),
            next_cursor: None,
        }));
    }

    if wants_csv(&req) {
        // One chunk of employees per round trip, written as it comes: memory stays flat
        // however many employees there are, and the first bytes leave at once.
        let pool = state.pool.clone();
        let stream =
            futures_util::stream::unfold((Some(Uuid::nil()), true), move |(after, first)| {
                let pool = pool.clone();
                async move {
                    let after = after?;
                    let mut text = if first {
                        CSV_HEADER.to_owned()
                    } else {
                        String::new()
                    };
                    let result = async {
                        let mut conn = pool.get().await?;
                        chunk(&mut conn, group, (from, to), after, CHUNK, group_currency).await
                    }
                    .await;
                    match result {
                        Ok(employees) => {
                            let next = employees.last().and_then(|t| t.employee_id);
                            for totals in &employees {
                                text.push_str(&totals.csv(group_currency));
                            }
                            if next.is_none() && text.is_empty() {
                                return None;
                            }
                            Some((
                                Ok::<Bytes, actix_web::Error>(Bytes::from(text)),
                                (next, false),
                            ))
                        }
                        Err(error) => {
                            tracing::error!(%error, "benefits export failed midway");
                            Some((
                                Err(actix_web::error::ErrorInternalServerError("export failed")),
                                (None, false),
                            ))
                        }
                    }
                }
            });
        return Ok(HttpResponse::Ok()
            .content_type("text/csv; charset=utf-8")
            .streaming(stream));
    }

    let page = PageRequest::<Uuid>::parse(query.limit, query.cursor.as_deref())?;
    let (limit, after) = (page.limit, page.after.unwrap_or_else(Uuid::nil));
    let mut employees = chunk(
        &mut conn,
        group,
        (from, to),
        after,
        limit + 1,
        group_currency,
    )
    .await?;
    let more = i64::try_from(employees.len()).unwrap_or(i64::MAX) > limit;
    employees.truncate(usize::try_from(limit).unwrap_or(20));
    let next_cursor = more
        .then(|| employees.last().and_then(|t| t.employee_id))
        .flatten()
        .map(|id| encode_cursor(&id));
    Ok(HttpResponse::Ok().json(BenefitsReport {
        year,
        currency: group_currency.to_string(),
        group_by: None,
        items: employees.iter().map(|t| t.item(group_currency)).collect(),
        next_cursor,
    }))
}
