//! `GET /kpis/internal-service`: JSON, or CSV with `Accept: text/csv`.

use actix_web::http::header;
use actix_web::{get, web, HttpRequest, HttpResponse};
use uuid::Uuid;

use super::dto::{KpiItem, KpiQuery, KpiReport};
use super::queries;
use crate::domain::period;
use crate::error::ApiError;
use crate::identity::auth::{Authorized, Role, Trade};
use crate::startup::AppState;

const COLUMNS: [&str; 12] = [
    "company_id",
    "employee_orders",
    "employee_fulfilment_hours_p50",
    "intercompany_orders",
    "acceptance_hours_p50",
    "shipping_hours_p50",
    "on_time_rate",
    "rejection_rate",
    "feedback_count",
    "average_rating",
    "response_rate",
    "replied_rate",
];

/// The report as CSV: a header row, then one row per company; null is an empty field. Every
/// value is a UUID, an integer or a decimal, so none needs quoting.
pub fn csv(items: &[KpiItem]) -> String {
    let mut out = COLUMNS.join(",");
    out.push_str("\r\n");
    let opt = |v: &Option<String>| v.clone().unwrap_or_default();
    for item in items {
        let fields = [
            item.company_id.to_string(),
            item.employee_orders.to_string(),
            opt(&item.employee_fulfilment_hours_p50),
            item.intercompany_orders.to_string(),
            opt(&item.acceptance_hours_p50),
            opt(&item.shipping_hours_p50),
            opt(&item.on_time_rate),
            opt(&item.rejection_rate),
            item.feedback_count.to_string(),
            opt(&item.average_rating),
            opt(&item.response_rate),
            opt(&item.replied_rate),
        ];
        out.push_str(&fields.join(","));
        out.push_str("\r\n");
    }
    out
}

/// Whether the client asked for CSV (`Accept: text/csv`) rather than JSON.
fn wants_csv(request: &HttpRequest) -> bool {
    request
        .headers()
        .get_all(header::ACCEPT)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|media| {
            media
                .split(';')
                .next()
                .is_some_and(|m| m.trim().eq_ignore_ascii_case("text/csv"))
        })
}

/// Internal-service KPIs of a month (`period=YYYY-MM`, default the current one), per selling
/// company: employee orders
/// and their median fulfilment time, intercompany orders with median acceptance and shipping
/// times, on-time and rejection rates, feedback count, average rating, response and reply rates.
/// Finance and admins get every company of the group; a purchaser their own company. CSV with
/// `Accept: text/csv`.
#[utoipa::path(
    tag = "kpis",
    params(KpiQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The report", content(
            (KpiReport = "application/json"),
            (String = "text/csv", example = "company_id,employee_orders,employee_fulfilment_hours_p50,intercompany_orders,acceptance_hours_p50,shipping_hours_p50,on_time_rate,rejection_rate,feedback_count,average_rating,response_rate,replied_rate\r\n")
        )),
        (status = 400, description = "period not YYYY-MM"),
        (status = 403, description = "Not admin, finance or a purchaser"),
    )
)]
#[get("/kpis/internal-service")]
#[tracing::instrument(skip_all)]
pub async fn internal_service(
    user: Authorized<Trade>,
    state: web::Data<AppState>,
    query: web::Query<KpiQuery>,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let period = query
        .period
        .clone()
        .unwrap_or_else(|| state.clock.today().format("%Y-%m").to_string());
    let (first, next) =
        period::month(&period).ok_or_else(|| ApiError::bad_field("period", "must be YYYY-MM"))?;
    let instant = |day: chrono::NaiveDate| {
        day.and_hms_opt(0, 0, 0)
            .map(|t| t.and_utc())
            .ok_or_else(|| ApiError::bad_field("period", "must be YYYY-MM"))
    };
    let company: Option<Uuid> = if user.has(Role::Admin) || user.has(Role::Finance) {
        None
    } else {
        Some(user.company_id)
    };
    let mut conn = state.pool.get().await?;
    let items = queries::report(
        &mut conn,
        user.group_id,
        instant(first)?,
        instant(next)?,
        company,
    )
    .await?;
    if wants_csv(&request) {
        return Ok(HttpResponse::Ok()
            .content_type("text/csv; charset=utf-8")
            .insert_header((
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"internal-service-{period}.csv\""),
            ))
            .body(csv(&items)));
    }
    Ok(HttpResponse::Ok().json(KpiReport { period, items }))
}
