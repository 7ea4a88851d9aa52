//! The payroll deduction file (§7): per employee, the deductions due on one pay date, for the
//! payroll run to take from wages (a refund is negative, paid back). JSON pages, or a CSV
//! streamed a chunk at a time with `Accept: text/csv`.

use actix_web::web::Bytes;
use actix_web::{get, web, HttpRequest, HttpResponse};
use chrono::NaiveDate;
use diesel::sql_types::Uuid as SqlUuid;
use diesel::sql_types::{BigInt, Date, Integer, Numeric, Text};
use diesel::QueryableByName;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use rust_decimal::Decimal;
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::csv::{header, record, wants_csv, Column};
use crate::db::statement::statement;
use crate::db::DbPool;
use crate::domain::codes::CurrencyCode;
use crate::domain::kinds::DeductionKind;
use crate::domain::money;
use crate::error::ApiError;
use crate::identity::auth::{Authorized, Finance};
use crate::ids::GroupId;
use crate::pagination::{encode_cursor, Page};
use crate::state::AppState;

crate::paged_query! {
    pub struct PayrollDeductionsQuery {
        /// The pay date (`YYYY-MM-DD`).
        #[param(format = Date, pattern = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")]
        pub pay_date: String,
    }
    limit: "1–100, default 20; ignored for CSV."
}

/// One deduction for the payroll run.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PayrollDeductionItem {
    pub employee_id: Uuid,
    pub employee_name: String,
    /// The employer whose payroll deducts it.
    pub company_id: Uuid,
    pub order_id: Uuid,
    /// The payroll's deduction code: `STORE-INST` (an instalment), `STORE-REFUND` (what was
    /// deducted for a cancelled order, paid back) or `STORE-BAL` (the balance due when
    /// employment ends).
    pub deduction_code: String,
    pub kind: DeductionKind,
    /// Negative for a refund.
    pub amount: String,
    #[schema(value_type = CurrencyCode)]
    pub currency: String,
    /// The first and last pay dates of the order's instalments (a refund or balance: the pay
    /// date).
    pub start_date: NaiveDate,
    pub stop_date: NaiveDate,
}

fn deduction_code(kind: DeductionKind) -> &'static str {
    match kind {
        DeductionKind::Instalment => "STORE-INST",
        DeductionKind::Refund => "STORE-REFUND",
        DeductionKind::Balance => "STORE-BAL",
    }
}

#[derive(QueryableByName)]
struct Row {
    #[diesel(sql_type = SqlUuid)]
    employee_id: Uuid,
    #[diesel(sql_type = Text)]
    employee_name: String,
    #[diesel(sql_type = SqlUuid)]
    company_id: Uuid,
    #[diesel(sql_type = SqlUuid)]
    order_id: Uuid,
    #[diesel(sql_type = Integer)]
    line_no: i32,
    #[diesel(sql_type = Text)]
    kind: DeductionKind,
    #[diesel(sql_type = Numeric)]
    amount: Decimal,
    #[diesel(sql_type = Text)]
    currency: CurrencyCode,
    #[diesel(sql_type = Date)]
    start_date: NaiveDate,
    #[diesel(sql_type = Date)]
    stop_date: NaiveDate,
}

/// The sort key of a line: (employee, order, line).
type Key = (Uuid, Uuid, i32);

impl Row {
    fn key(&self) -> Key {
        (self.employee_id, self.order_id, self.line_no)
    }

    fn item(&self) -> PayrollDeductionItem {
        let amount = money::format(self.amount, self.currency);
        PayrollDeductionItem {
            employee_id: self.employee_id,
            employee_name: self.employee_name.clone(),
            company_id: self.company_id,
            order_id: self.order_id,
            deduction_code: deduction_code(self.kind).to_owned(),
            kind: self.kind,
            amount,
            currency: self.currency.to_string(),
            start_date: self.start_date,
            stop_date: self.stop_date,
        }
    }
}

async fn load(
    conn: &mut AsyncPgConnection,
    (group, day): (GroupId, NaiveDate),
    after: Key,
    rows: i64,
) -> Result<Vec<Row>, ApiError> {
    Ok(statement(include_str!("payroll_deductions.sql"))
        .bind::<SqlUuid, _>(group)
        .bind::<Date, _>(day)
        .bind::<SqlUuid, _>(after.0)
        .bind::<SqlUuid, _>(after.1)
        .bind::<Integer, _>(after.2)
        .bind::<BigInt, _>(rows)
        .load(conn)
        .await?)
}

const CSV_COLUMNS: [Column; 10] = crate::csv_columns![
    employee_id, employee_name, company_id, order_id, deduction_code, #amount, currency, start_date,
    stop_date, pay_date,
];

/// Lines per round trip of the CSV file.
const CHUNK: i64 = 1000;

fn records(rows: &[Row], day: NaiveDate, out: &mut String) {
    for row in rows {
        let item = row.item();
        // Names are the only free text: `record` neutralises what a spreadsheet would run.
        out.push_str(&record(
            &CSV_COLUMNS,
            &[
                item.employee_id.to_string(),
                item.employee_name,
                item.company_id.to_string(),
                item.order_id.to_string(),
                item.deduction_code,
                item.amount,
                item.currency,
                item.start_date.to_string(),
                item.stop_date.to_string(),
                day.to_string(),
            ],
        ));
    }
}

/// The file: the header and the first chunk (read before answering, so a failure there is a
/// problem answer), then a chunk per round trip, so memory stays flat.
fn stream(pool: DbPool, scope: (GroupId, NaiveDate), first: Vec<Row>) -> HttpResponse {
    let mut head = header(&CSV_COLUMNS);
    records(&first, scope.1, &mut head);
    let after = (i64::try_from(first.len()).ok() == Some(CHUNK))
        .then(|| <[Row]>::last(&first).map(Row::key))
        .flatten();
    let chunks = futures_util::stream::unfold((Some(head), after), move |(head, after)| {
        let pool = pool.clone();
        async move {
            if let Some(head) = head {
                return Some((
                    Ok::<Bytes, actix_web::Error>(Bytes::from(head)),
                    (None, after),
                ));
            }
            let after = after?;
            let rows = match pool.get().await {
                Ok(mut conn) => load(&mut conn, scope, after, CHUNK).await,
                Err(error) => Err(error.into()),
            };
            match rows {
                Ok(rows) if rows.is_empty() => None,
                Ok(rows) => {
                    let mut text = String::new();
                    records(&rows, scope.1, &mut text);
                    let next = (i64::try_from(rows.len()).ok() == Some(CHUNK))
                        .then(|| <[Row]>::last(&rows).map(Row::key))
                        .flatten();
                    Some((Ok(Bytes::from(text)), (None, next)))
                }
                Err(error) => {
                    tracing::error!(%error, "payroll deduction file failed midway");
                    let failed = actix_web::error::ErrorInternalServerError("export failed");
                    Some((Err(failed), (None, None)))
                }
            }
        }
    });
    HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .streaming(chunks)
}

/// The payroll deductions of a pay date (finance): every employee's lines due that day in
/// their employer's currency, instalments, refunds of cancelled orders (negative) and balances
/// due at the end of employment. `Accept: text/csv` streams the payroll file.
#[utoipa::path(
    tag = "finance", params(PayrollDeductionsQuery), security(("bearer" = ["finance"])),
    responses(
        (status = 200, description = "The pay date's deductions; CSV with `Accept: text/csv`",
         content((Page<PayrollDeductionItem> = "application/json"), (String = "text/csv"))),
        (status = 400, description = "A cursor this API did not issue, or no such day")
    )
)]
#[get("/finance/payroll-deductions")]
pub async fn payroll_deductions(
    user: Authorized<Finance>,
    state: web::Data<AppState>,
    req: HttpRequest,
    query: crate::json::Query<PayrollDeductionsQuery>,
) -> Result<HttpResponse, ApiError> {
    let page = query.page::<Key>()?;
    let day = NaiveDate::parse_from_str(&query.pay_date, "%Y-%m-%d")
        .map_err(|_| ApiError::bad_field("pay_date", "must be a date written YYYY-MM-DD"))?;
    let scope = (user.group_id, day);
    let start = (Uuid::nil(), Uuid::nil(), 0);
    let (pool, mut conn) = state.reads.checkout().await?;
    if wants_csv(&req) {
        let first = load(&mut conn, scope, start, CHUNK).await?;
        drop(conn);
        return Ok(stream(pool, scope, first));
    }
    let mut rows = load(&mut conn, scope, page.after.unwrap_or(start), page.fetch()).await?;
    let more = i64::try_from(rows.len()).unwrap_or(i64::MAX) > page.limit;
    rows.truncate(usize::try_from(page.limit).unwrap_or(usize::MAX));
    let next_cursor = more
        .then(|| <[Row]>::last(&rows).map(|row| encode_cursor(&row.key())))
        .flatten();
    Ok(HttpResponse::Ok().json(Page {
        items: rows.iter().map(Row::item).collect::<Vec<_>>(),
        next_cursor,
    }))
}
