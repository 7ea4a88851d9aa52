//! The employee-benefits reports (§7): per employee and employer, the discounts earned in a
//! year, split into what the law excludes and what is wages under the employer's rule, in the
//! employer's (payroll) currency; and the month's imputed income for payroll. Both read only
//! the facts each line recorded when its order was fulfilled (`benefit_lines`, written by
//! `orders::benefit_facts`), so a later change of master data moves no figure already earned.
//! The rules are `domain::benefits`; `year` walks a chunk of employees through them; `file`
//! streams the CSV payroll files in constant memory.

mod file;
pub mod imputed;
mod year;

use actix_web::{get, web, HttpRequest, HttpResponse};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use self::year::{assemble, load, Scope};
use crate::csv::{header, wants_csv};
use crate::domain::benefits::{Reason, Rule};
use crate::domain::codes::CurrencyCode;
use crate::domain::kinds::ClientType;
use crate::error::ApiError;
use crate::identity::auth::{Authorized, Finance};
use crate::pagination::encode_cursor;
use crate::state::AppState;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Detail {
    /// Each item lists its lines, each with the reason for its split.
    Lines,
}

crate::paged_query! {
    pub struct BenefitsQuery {
        /// The calendar year (of the group's business calendar), 2000–2100.
        #[param(minimum = 2000, maximum = 2100)]
        pub year: i32,
        /// `lines`: each line with its reason (in CSV: one record per line).
        #[param(inline)]
        pub detail: Option<Detail>,
    }
    limit: "Employees per page, 1–100 (default 20); ignored for CSV."
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

/// Employee benefits of a year (finance): per employee and employer, the discounts of the
/// orders fulfilled in the year (household members' included) split under the employer's
/// rule, in the employer's currency, from the facts fixed at fulfilment. `detail=lines` adds
/// each line with its reason; `Accept: text/csv` streams the payroll file.
#[utoipa::path(
    tag = "finance", params(BenefitsQuery), security(("bearer" = ["finance"])),
    responses((status = 200, description = "The report; CSV with `Accept: text/csv`",
               content((BenefitsReport = "application/json"), (String = "text/csv"))))
)]
#[get("/finance/employee-benefits")]
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
    let page = query.page::<Uuid>()?;
    // Read on a replica when one is usable, the CSV's chunks too (`db::replicas`).
    let (pool, mut conn) = state.reads.checkout().await?;
    let zone = crate::identity::queries::group_zone(&mut conn, user.group_id).await?;
    let code = crate::identity::queries::group_currency(&mut conn, user.group_id).await?;
    let scope = Scope {
        group: user.group_id,
        from: zone.start(first),
        counted_from: zone.start(first),
        to: zone.start(next),
        zone,
        group_currency: code,
        detail: query.detail == Some(Detail::Lines),
    };
    if wants_csv(&req) {
        // The first chunk is read before the answer starts, so a failure there is still a
        // problem answer rather than a 200 cut short.
        let first = load(&mut conn, scope, Uuid::nil(), file::CHUNK).await?;
        drop(conn);
        let header = header(if scope.detail {
            &file::CSV_LINE[..]
        } else {
            &file::CSV_ITEM[..]
        });
        return Ok(file::stream(
            pool,
            scope,
            first,
            header,
            file::report_records,
        ));
    }
    let (limit, after) = (page.limit, page.after.unwrap_or_else(Uuid::nil));
    let rows = load(&mut conn, scope, after, limit.saturating_add(1)).await?;
    let mut items = assemble(&rows, scope)?;
    let next_cursor = keep_page(&mut items, limit);
    Ok(HttpResponse::Ok().json(BenefitsReport {
        year,
        group_currency: scope.group_currency.to_string(),
        items,
        next_cursor,
    }))
}

/// Keeps the items of the first `limit` employees of `items` (read for `limit + 1`), and
/// answers the cursor after them when more follow: an employee is never split across pages.
pub(super) fn keep_page(items: &mut Vec<BenefitItem>, limit: i64) -> Option<String> {
    let mut employees: Vec<Uuid> = items.iter().map(|item| item.employee_id).collect();
    employees.dedup();
    if i64::try_from(employees.len()).unwrap_or(i64::MAX) <= limit {
        return None;
    }
    let last = employees
        .get(
            usize::try_from(limit)
                .unwrap_or(usize::MAX)
                .saturating_sub(1),
        )
        .copied();
    items.retain(|item| Some(item.employee_id) <= last);
    last.map(|id| encode_cursor(&id))
}
