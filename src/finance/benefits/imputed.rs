//! The imputed-income file (§7): per employee and employer, the taxable benefit earned in a
//! month, for payroll to add to that month's wages. A line's taxable part depends on what the
//! year drew from an allowance before it (Germany, Spain), so the year's lines from January are
//! assessed and only the month's are counted. Household members' orders are the employee's.

use actix_web::{get, web, HttpRequest, HttpResponse};
use chrono::{Datelike, NaiveDate};
use rust_decimal::Decimal;
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::year::{assemble, load, Scope};
use super::{file, keep_page, BenefitItem};
use crate::csv::{header, record, wants_csv, Column};
use crate::domain::benefits::Rule;
use crate::domain::codes::CurrencyCode;
use crate::error::ApiError;
use crate::identity::auth::{Authorized, Finance};
use crate::state::AppState;

crate::paged_query! {
    pub struct ImputedIncomeQuery {
        /// `YYYY-MM`, not in the future.
        // Text until the role check has passed (a query string is read before it).
        #[param(pattern = r"^[0-9]{4}-(0[1-9]|1[0-2])$")]
        pub period: String,
    }
    limit: "Employees per page, 1–100 (default 20); ignored for CSV."
}

/// What kind of benefit in kind an amount is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum BenefitType {
    /// The taxable part of an employee discount.
    EmployeeDiscount,
}

/// A taxable amount earned in the month, in the employer's (payroll) currency.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ImputedIncomeItem {
    pub employee_id: Uuid,
    /// The employer.
    pub company_id: Uuid,
    pub rule: Rule,
    pub benefit_type: BenefitType,
    pub amount: String,
    #[schema(value_type = CurrencyCode)]
    pub currency: String,
}

/// A page of the month's imputed income: employees with a taxable amount (none under rule
/// `none`, which computes nothing; none where nothing was taxable).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ImputedIncomePage {
    pub period: String,
    pub items: Vec<ImputedIncomeItem>,
    pub next_cursor: Option<String>,
}

const CSV_COLUMNS: [Column; 6] = crate::csv_columns![
    employee_id, company_id, rule, benefit_type, #amount, currency,
];

/// The items with something taxable.
fn imputed(items: &[BenefitItem]) -> Vec<ImputedIncomeItem> {
    items
        .iter()
        .filter_map(|item| {
            let amount = item.taxable_excess.clone()?;
            let taxable = amount.parse::<Decimal>().is_ok_and(|a| !a.is_zero());
            taxable.then(|| ImputedIncomeItem {
                employee_id: item.employee_id,
                company_id: item.company_id,
                rule: item.rule,
                benefit_type: BenefitType::EmployeeDiscount,
                amount,
                currency: item.currency.clone(),
            })
        })
        .collect()
}

fn records(items: &[BenefitItem], _: CurrencyCode, out: &mut String) {
    for item in imputed(items) {
        out.push_str(&record(
            &CSV_COLUMNS,
            &[
                item.employee_id.to_string(),
                item.company_id.to_string(),
                item.rule.to_string(),
                "employee_discount".to_owned(),
                item.amount,
                item.currency,
            ],
        ));
    }
}

/// Imputed income of a month (finance): per employee and employer, the taxable part of the
/// discounts earned in the month under the employer's rule, in the employer's currency.
/// `Accept: text/csv` streams the payroll file.
#[utoipa::path(
    tag = "finance", params(ImputedIncomeQuery), security(("bearer" = ["finance"])),
    responses(
        (status = 200, description = "The month's imputed income; CSV with `Accept: text/csv`",
         content((ImputedIncomePage = "application/json"), (String = "text/csv"))),
        (status = 422, description = "A period in the future")
    )
)]
#[get("/finance/imputed-income")]
pub async fn imputed_income(
    user: Authorized<Finance>,
    state: web::Data<AppState>,
    req: HttpRequest,
    query: crate::json::Query<ImputedIncomeQuery>,
) -> Result<HttpResponse, ApiError> {
    let page = query.page::<Uuid>()?;
    let (pool, mut conn) = state.reads.checkout().await?;
    let group = user.group_id;
    let day = crate::bookings::day(&mut conn, group, state.clock.now()).await?;
    let month = crate::validation::period(&query.period)?;
    let (first, next, _) = crate::finance::reports::bounds(month, day.today)?;
    let january = NaiveDate::from_ymd_opt(first.year(), 1, 1).unwrap_or(first);
    let zone = day.zone;
    let code = crate::identity::queries::group_currency(&mut conn, group).await?;
    let scope = Scope {
        group,
        from: zone.start(january),
        counted_from: zone.start(first),
        to: zone.start(next),
        zone,
        group_currency: code,
        detail: false,
    };
    if wants_csv(&req) {
        let first = load(&mut conn, scope, Uuid::nil(), file::CHUNK).await?;
        drop(conn);
        let header = header(&CSV_COLUMNS);
        return Ok(file::stream(pool, scope, first, header, records));
    }
    let (limit, after) = (page.limit, page.after.unwrap_or_else(Uuid::nil));
    let rows = load(&mut conn, scope, after, limit.saturating_add(1)).await?;
    let mut items = assemble(&rows, scope)?;
    let next_cursor = keep_page(&mut items, limit);
    Ok(HttpResponse::Ok().json(ImputedIncomePage {
        period: month.to_string(),
        items: imputed(&items),
        next_cursor,
    }))
}
