//! The employee-benefits report (§7): per employee and employer, the discounts earned in a
//! year, split into what the law excludes and what is wages under the employer's rule, in the
//! employer's (payroll) currency. It reads only the facts each line recorded when its order
//! was fulfilled (`benefit_lines`, written by `orders::benefit_facts`), so a later change of
//! master data moves no figure already earned. The rules are `domain::benefits`. With
//! `Accept: text/csv` it is the payroll file, streamed a chunk of employees at a time in
//! constant memory.

use actix_web::web::Bytes;
use actix_web::{get, web, HttpRequest, HttpResponse};
use chrono::{DateTime, NaiveDate, Utc};
use diesel::sql_types::{
    BigInt, Bool, Int4, Nullable, Numeric, Text, Timestamptz, Uuid as SqlUuid,
};
use diesel::QueryableByName;
use diesel_async::AsyncPgConnection;
use diesel_async::RunQueryDsl;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::csv::{record, wants_csv};
use crate::db::statement::statement;
use crate::db::DbPool as Pool;
use crate::domain::benefits::{us, Assessment, Facts, Reason, Rule, Year};
use crate::domain::calendar::BusinessZone;
use crate::domain::codes::{CurrencyCode, SicCode};
use crate::domain::kinds::{ClientType, ProductKind};
use crate::domain::money;
use crate::error::ApiError;
use crate::identity::auth::{Authorized, Finance};
use crate::pagination::{encode_cursor, PageRequest};
use crate::state::AppState;

/// Employees per database round trip of the CSV file (JSON pages take `limit`).
const CHUNK: i64 = 1000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Detail {
    /// Each item lists its lines, each with the reason for its split.
    Lines,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct BenefitsQuery {
    /// The calendar year (of the group's business calendar), 2000–2100.
    #[param(minimum = 2000, maximum = 2100)]
    pub year: i32,
    /// `lines`: each line with its reason (in CSV: one record per line).
    #[param(inline)]
    pub detail: Option<Detail>,
    /// Employees per page, 1–100 (default 20); ignored for CSV.
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    #[param(pattern = r"^[A-Za-z0-9_-]+$", max_length = 1024)]
    pub cursor: Option<String>,
}

/// One employee's year at one employer under one rule, in the employer's currency. Under rule
/// `none` nothing is computed: `qualified_discount`, `taxable_excess`, `allowance_used` and
/// `taxable_excess_group` are null.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct BenefitItem {
    pub employee_id: Uuid,
    /// The employer.
    pub company_id: Uuid,
    pub client_type: ClientType,
    pub rule: Rule,
    /// The employer's (payroll) currency.
    #[schema(value_type = CurrencyCode)]
    pub currency: String,
    pub orders: i64,
    pub list_total: String,
    pub paid_total: String,
    pub discount_total: String,
    pub qualified_discount: Option<String>,
    pub taxable_excess: Option<String>,
    /// What the year's lines drew from a yearly allowance (`de_estg_8_3`: the 1,080.00 EUR;
    /// `es_lirpf_ordinary`: the 1,000.00 EUR of ordinary discounts); null for other rules.
    pub allowance_used: Option<String>,
    /// `taxable_excess` in the group currency, each line at its fulfilment day's rate.
    pub taxable_excess_group: Option<String>,
    /// With `detail=lines`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lines: Option<Vec<BenefitLine>>,
}

/// One fulfilled line, in the employer's currency.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct BenefitLine {
    pub order_id: Uuid,
    pub line_no: i32,
    /// The business day its order was fulfilled.
    pub fulfilled_on: NaiveDate,
    pub product_id: Uuid,
    pub seller_company_id: Uuid,
    pub quantity: i32,
    pub list_total: String,
    pub paid_total: String,
    pub discount: String,
    pub qualified_discount: Option<String>,
    pub taxable_excess: Option<String>,
    /// What this line drew from the year's allowance (de, es); null for other rules.
    pub allowance_used: Option<String>,
    pub reason: Reason,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct BenefitsReport {
    pub year: i32,
    #[schema(value_type = CurrencyCode)]
    pub group_currency: String,
    pub items: Vec<BenefitItem>,
    pub next_cursor: Option<String>,
}

/// A `benefit_lines` row with its employee's client type.
#[derive(QueryableByName)]
struct LineRow {
    #[diesel(sql_type = SqlUuid)]
    employee_id: Uuid,
    #[diesel(sql_type = SqlUuid)]
    employer_company_id: Uuid,
    #[diesel(sql_type = Text)]
    client_type: ClientType,
    #[diesel(sql_type = Text)]
    rule: Rule,
    #[diesel(sql_type = Text)]
    currency: String,
    #[diesel(sql_type = Numeric)]
    to_group_rate: Decimal,
    #[diesel(sql_type = SqlUuid)]
    order_id: Uuid,
    #[diesel(sql_type = Int4)]
    line_no: i32,
    #[diesel(sql_type = Timestamptz)]
    fulfilled_at: DateTime<Utc>,
    #[diesel(sql_type = SqlUuid)]
    product_id: Uuid,
    #[diesel(sql_type = SqlUuid)]
    seller_company_id: Uuid,
    #[diesel(sql_type = Int4)]
    quantity: i32,
    #[diesel(sql_type = Numeric)]
    list_total: Decimal,
    #[diesel(sql_type = Numeric)]
    paid_total: Decimal,
    #[diesel(sql_type = Numeric)]
    cost_total: Decimal,
    #[diesel(sql_type = Text)]
    product_kind: ProductKind,
    #[diesel(sql_type = Bool)]
    offered_to_customers: bool,
    #[diesel(sql_type = Nullable<Numeric>)]
    seller_gp_percent: Option<Decimal>,
    #[diesel(sql_type = Nullable<Text>)]
    seller_line_of_business: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    employer_line_of_business: Option<String>,
    #[diesel(sql_type = Bool)]
    highly_compensated: bool,
    #[diesel(sql_type = Bool)]
    tier_discriminatory: bool,
}

impl LineRow {
    fn facts(&self) -> Facts {
        let sic = |code: &Option<String>| code.as_deref().and_then(SicCode::parse);
        Facts {
            list_total: self.list_total,
            paid_total: self.paid_total,
            cost_total: self.cost_total,
            service: self.product_kind == ProductKind::Service,
            offered_to_customers: self.offered_to_customers,
            own_product: self.seller_company_id == self.employer_company_id,
            seller_gp_percent: self.seller_gp_percent,
            same_line_of_business: us::same_line_of_business(
                sic(&self.seller_line_of_business),
                sic(&self.employer_line_of_business),
            ),
            highly_compensated: self.highly_compensated,
            tier_discriminatory: self.tier_discriminatory,
        }
    }
}

/// One item being summed: the year's lines of one employee at one employer under one rule.
struct Running {
    employee_id: Uuid,
    company_id: Uuid,
    client_type: ClientType,
    rule: Rule,
    currency: CurrencyCode,
    year: Year,
    orders: i64,
    last_order: Option<Uuid>,
    list_total: Decimal,
    paid_total: Decimal,
    discount_total: Decimal,
    qualified: Decimal,
    taxable: Decimal,
    taxable_group: Decimal,
    lines: Option<Vec<BenefitLine>>,
}

fn currency(code: &str) -> Result<CurrencyCode, ApiError> {
    CurrencyCode::parse(code).ok_or_else(|| ApiError::internal(format!("unknown currency {code}")))
}

impl Running {
    fn start(row: &LineRow, detail: bool) -> Result<Self, ApiError> {
        let currency = currency(&row.currency)?;
        Ok(Self {
            employee_id: row.employee_id,
            company_id: row.employer_company_id,
            client_type: row.client_type,
            rule: row.rule,
            currency,
            year: Year::new(row.rule, currency),
            orders: 0,
            last_order: None,
            list_total: Decimal::ZERO,
            paid_total: Decimal::ZERO,
            discount_total: Decimal::ZERO,
            qualified: Decimal::ZERO,
            taxable: Decimal::ZERO,
            taxable_group: Decimal::ZERO,
            lines: detail.then(Vec::new),
        })
    }

    fn holds(&self, row: &LineRow) -> bool {
        self.employee_id == row.employee_id
            && self.company_id == row.employer_company_id
            && self.rule == row.rule
            && self.currency.as_str() == row.currency
    }

    /// The next line of the item, in the order lines were earned.
    fn add(&mut self, row: &LineRow, scope: Scope, elsewhere: Decimal) -> Result<(), ApiError> {
        if self.last_order != Some(row.order_id) {
            self.orders = self.orders.saturating_add(1);
            self.last_order = Some(row.order_id);
        }
        let assessment = self.year.assess_sharing(&row.facts(), elsewhere)?;
        self.list_total = money::add(self.list_total, row.list_total)?;
        self.paid_total = money::add(self.paid_total, row.paid_total)?;
        self.discount_total = money::add(self.discount_total, assessment.discount)?;
        self.qualified = money::add(self.qualified, assessment.qualified.unwrap_or_default())?;
        let taxable = assessment.taxable.unwrap_or_default();
        self.taxable = money::add(self.taxable, taxable)?;
        let in_group = money::round(
            money::mul(taxable, row.to_group_rate)?,
            scope.group_currency,
        );
        self.taxable_group = money::add(self.taxable_group, in_group)?;
        if let Some(lines) = &mut self.lines {
            let day = scope.zone.today(row.fulfilled_at);
            lines.push(line_view(row, day, &assessment, self.rule, self.currency));
        }
        Ok(())
    }

    fn item(self, group_currency: CurrencyCode) -> BenefitItem {
        let code = self.currency;
        let computed = self.rule != Rule::None;
        let amount = |value: Decimal| money::format(value, code);
        BenefitItem {
            employee_id: self.employee_id,
            company_id: self.company_id,
            client_type: self.client_type,
            rule: self.rule,
            currency: code.to_string(),
            orders: self.orders,
            list_total: amount(self.list_total),
            paid_total: amount(self.paid_total),
            discount_total: amount(self.discount_total),
            qualified_discount: computed.then(|| amount(self.qualified)),
            taxable_excess: computed.then(|| amount(self.taxable)),
            allowance_used: self.year.allowance_used().map(amount),
            taxable_excess_group: computed
                .then(|| money::format(self.taxable_group, group_currency)),
            lines: self.lines,
        }
    }
}

fn line_view(
    row: &LineRow,
    fulfilled_on: NaiveDate,
    a: &Assessment,
    rule: Rule,
    code: CurrencyCode,
) -> BenefitLine {
    let amount = |value: Decimal| money::format(value, code);
    BenefitLine {
        order_id: row.order_id,
        line_no: row.line_no,
        fulfilled_on,
        product_id: row.product_id,
        seller_company_id: row.seller_company_id,
        quantity: row.quantity,
        list_total: amount(row.list_total),
        paid_total: amount(row.paid_total),
        discount: amount(a.discount),
        qualified_discount: a.qualified.map(amount),
        taxable_excess: a.taxable.map(amount),
        allowance_used: matches!(rule, Rule::DeEstg83 | Rule::EsLirpfOrdinary)
            .then(|| amount(a.allowance)),
        reason: a.reason,
    }
}

/// What the report covers: a group's year (from and to its calendar's midnights), shown in
/// its currency.
#[derive(Clone, Copy)]
struct Scope {
    group: Uuid,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    zone: BusinessZone,
    group_currency: CurrencyCode,
    detail: bool,
}

/// The lines of the next `limit` employees after `after` with lines earned in the year.
async fn load(
    conn: &mut AsyncPgConnection,
    scope: Scope,
    after: Uuid,
    limit: i64,
) -> Result<Vec<LineRow>, ApiError> {
    Ok(statement(include_str!("benefits.sql"))
        .bind::<SqlUuid, _>(scope.group)
        .bind::<Timestamptz, _>(scope.from)
        .bind::<Timestamptz, _>(scope.to)
        .bind::<SqlUuid, _>(after)
        .bind::<BigInt, _>(limit)
        .load(conn)
        .await?)
}

/// The items of loaded lines: an employee's items in the order their employers' lines were
/// first earned.
fn assemble(rows: &[LineRow], scope: Scope) -> Result<Vec<BenefitItem>, ApiError> {
    // Lines come employee by employee; an employee's lines at one employer under one rule
    // make one item, however they interleave with their other employers' (a transfer in
    // the year, and back).
    let mut items: Vec<BenefitItem> = Vec::new();
    let mut open: Vec<Running> = Vec::new();
    for row in rows {
        if <[Running]>::first(&open).is_some_and(|r| r.employee_id != row.employee_id) {
            items.extend(open.drain(..).map(|r| r.item(scope.group_currency)));
        }
        let at = match open.iter().position(|r| r.holds(row)) {
            Some(at) => at,
            None => {
                open.push(Running::start(row, scope.detail)?);
                open.len().saturating_sub(1)
            }
        };
        // A yearly allowance is the employee's: what their other employers under the same
        // rule drew this year counts.
        let elsewhere = money::sum(
            open.iter()
                .enumerate()
                .filter(|(i, r)| *i != at && r.rule == row.rule)
                .map(|(_, r)| r.year.drawn()),
        )?;
        if let Some(running) = open.get_mut(at) {
            running.add(row, scope, elsewhere)?;
        }
    }
    items.extend(open.into_iter().map(|r| r.item(scope.group_currency)));
    Ok(items)
}

const CSV_ITEM: [&str; 14] = [
    "employee_id",
    "company_id",
    "client_type",
    "rule",
    "currency",
    "orders",
    "list_total",
    "paid_total",
    "discount_total",
    "qualified_discount",
    "taxable_excess",
    "allowance_used",
    "taxable_excess_group",
    "group_currency",
];

const CSV_LINE: [&str; 17] = [
    "employee_id",
    "company_id",
    "rule",
    "currency",
    "order_id",
    "line_no",
    "fulfilled_on",
    "product_id",
    "seller_company_id",
    "quantity",
    "list_total",
    "paid_total",
    "discount",
    "qualified_discount",
    "taxable_excess",
    "allowance_used",
    "reason",
];

/// The CSV records of an item: one for the item, or one per line with `detail=lines`.
fn csv_records(item: &BenefitItem, group_currency: CurrencyCode, out: &mut String) {
    let text = |value: &Option<String>| value.clone().unwrap_or_default();
    let Some(lines) = &item.lines else {
        out.push_str(&record(&[
            item.employee_id.to_string(),
            item.company_id.to_string(),
            item.client_type.to_string(),
            item.rule.to_string(),
            item.currency.clone(),
            item.orders.to_string(),
            item.list_total.clone(),
            item.paid_total.clone(),
            item.discount_total.clone(),
            text(&item.qualified_discount),
            text(&item.taxable_excess),
            text(&item.allowance_used),
            text(&item.taxable_excess_group),
            group_currency.to_string(),
        ]));
        return;
    };
    for line in lines {
        out.push_str(&record(&[
            item.employee_id.to_string(),
            item.company_id.to_string(),
            item.rule.to_string(),
            item.currency.clone(),
            line.order_id.to_string(),
            line.line_no.to_string(),
            line.fulfilled_on.to_string(),
            line.product_id.to_string(),
            line.seller_company_id.to_string(),
            line.quantity.to_string(),
            line.list_total.clone(),
            line.paid_total.clone(),
            line.discount.clone(),
            text(&line.qualified_discount),
            text(&line.taxable_excess),
            text(&line.allowance_used),
            serde_json::to_value(line.reason)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default(),
        ]));
    }
}

/// Employee benefits of a year (finance): per employee and employer, the discounts of the
/// orders fulfilled in the year (household members' included) split under the employer's
/// rule, in the employer's currency, from the facts fixed at fulfilment. `detail=lines` adds
/// each line with its reason; `Accept: text/csv` streams the payroll file.
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
    let (Some(first), Some(next)) = (
        NaiveDate::from_ymd_opt(year, 1, 1).filter(|_| (2000..=2100).contains(&year)),
        NaiveDate::from_ymd_opt(year.saturating_add(1), 1, 1),
    ) else {
        return Err(ApiError::bad_field(
            "year",
            "must be a year between 2000 and 2100",
        ));
    };
    // `limit` and `cursor` are validated even for CSV, as the document states their bounds.
    let page = PageRequest::<Uuid>::parse(query.limit, query.cursor.as_deref())?;
    let mut conn = state.pool.get().await?;
    let zone = crate::identity::queries::group_zone(&mut conn, user.group_id).await?;
    let code = crate::identity::queries::group_currency(&mut conn, user.group_id).await?;
    let scope = Scope {
        group: user.group_id,
        from: zone.start(first),
        to: zone.start(next),
        zone,
        group_currency: currency(&code)?,
        detail: query.detail == Some(Detail::Lines),
    };
    if wants_csv(&req) {
        // The first chunk is read before the answer starts, so a failure there is still a
        // problem answer rather than a 200 cut short.
        let first = load(&mut conn, scope, Uuid::nil(), CHUNK).await?;
        drop(conn);
        return Ok(csv_file(state.pool.clone(), scope, first));
    }
    let (limit, after) = (page.limit, page.after.unwrap_or_else(Uuid::nil));
    let rows = load(&mut conn, scope, after, limit.saturating_add(1)).await?;
    let mut items = assemble(&rows, scope)?;
    let employees = distinct_employees(&items);
    let more = i64::try_from(employees.len()).unwrap_or(i64::MAX) > limit;
    let next_cursor = if more {
        // Keep the first `limit` employees' items; the cursor is the last one kept.
        let last = employees
            .get(
                usize::try_from(limit)
                    .unwrap_or(usize::MAX)
                    .saturating_sub(1),
            )
            .copied();
        items.retain(|item| Some(item.employee_id) <= last);
        last.map(|id| encode_cursor(&id))
    } else {
        None
    };
    Ok(HttpResponse::Ok().json(BenefitsReport {
        year,
        group_currency: scope.group_currency.to_string(),
        items,
        next_cursor,
    }))
}

/// The employees of `items`, in their (ascending) order.
fn distinct_employees(items: &[BenefitItem]) -> Vec<Uuid> {
    let mut ids: Vec<Uuid> = items.iter().map(|item| item.employee_id).collect();
    ids.dedup();
    ids
}

/// The next chunk of the payroll file: read already, or being read.
enum Next {
    Ready(Vec<LineRow>),
    Loading(tokio::task::JoinHandle<Result<Vec<LineRow>, ApiError>>),
}

impl Next {
    async fn rows(self) -> Result<Vec<LineRow>, ApiError> {
        match self {
            Self::Ready(rows) => Ok(rows),
            Self::Loading(task) => task.await.map_err(|e| ApiError::internal(e.to_string()))?,
        }
    }
}

fn load_next(pool: &Pool, scope: Scope, after: Uuid) -> Next {
    let pool = pool.clone();
    Next::Loading(actix_web::rt::spawn(async move {
        let mut conn = pool.get().await?;
        load(&mut conn, scope, after, CHUNK).await
    }))
}

/// The payroll file: one chunk of employees per round trip, written as it comes, so memory
/// stays flat however many employees there are and the first bytes leave at once. The next
/// chunk is read while this one is computed (on a blocking thread), so PostgreSQL and the
/// service work side by side.
fn csv_file(pool: Pool, scope: Scope, first: Vec<LineRow>) -> HttpResponse {
    let header = if scope.detail {
        record(&CSV_LINE)
    } else {
        record(&CSV_ITEM)
    };
    let stream = futures_util::stream::unfold(
        (Some(Next::Ready(first)), Some(header)),
        move |(next, header)| {
            let pool = pool.clone();
            async move {
                let next = next?;
                let text = async {
                    let rows = next.rows().await?;
                    let next = <[LineRow]>::last(&rows).map(|row| row.employee_id);
                    let loading = next.map(|after| load_next(&pool, scope, after));
                    let text = tokio::task::spawn_blocking(move || {
                        let mut text = header.unwrap_or_default();
                        for item in &assemble(&rows, scope)? {
                            csv_records(item, scope.group_currency, &mut text);
                        }
                        Ok::<_, ApiError>(text)
                    })
                    .await
                    .map_err(|e| ApiError::internal(e.to_string()))??;
                    Ok::<_, ApiError>((text, loading))
                }
                .await;
                match text {
                    Ok((text, _)) if text.is_empty() => None,
                    Ok((text, loading)) => Some((
                        Ok::<Bytes, actix_web::Error>(Bytes::from(text)),
                        (loading, None),
                    )),
                    Err(error) => {
                        tracing::error!(%error, "benefits export failed midway");
                        let failed = actix_web::error::ErrorInternalServerError("export failed");
                        Some((Err(failed), (None, None)))
                    }
                }
            }
        },
    );
    HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .streaming(stream)
}
