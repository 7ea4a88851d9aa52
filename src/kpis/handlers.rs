//! `GET /kpis/internal-service`: JSON, or CSV with `Accept: text/csv`.

use actix_web::{get, web, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::dto::{KpiItem, KpiQuery, KpiReport};
use super::queries;
use crate::csv::{csv, moment, wants_csv, Column};
use crate::domain::period::Month;
use crate::error::ApiError;
use crate::frozen::{self, Figures, Report};
use crate::identity::auth::{Authorized, Role, Trade};
use crate::ids::GroupId;
use crate::state::AppState;

const COLUMNS: [Column; 14] = crate::csv_columns![
    company_id, employee_orders, #employee_fulfilment_hours_p50, intercompany_orders,
    #acceptance_hours_p50, #shipping_hours_p50, #on_time_rate, overdue_open, #rejection_rate,
    feedback_count, #average_rating, #response_rate, #replied_rate, closed_at,
];

/// The report's CSV rows (null is an empty field), in [`COLUMNS`] order.
fn csv_rows(items: &[KpiItem], closed_at: Option<DateTime<Utc>>) -> Vec<Vec<String>> {
    let opt = |v: &Option<String>| v.clone().unwrap_or_default();
    items
        .iter()
        .map(|item| {
            vec![
                item.company_id.to_string(),
                item.employee_orders.to_string(),
                opt(&item.employee_fulfilment_hours_p50),
                item.intercompany_orders.to_string(),
                opt(&item.acceptance_hours_p50),
                opt(&item.shipping_hours_p50),
                opt(&item.on_time_rate),
                item.overdue_open.to_string(),
                opt(&item.rejection_rate),
                item.feedback_count.to_string(),
                opt(&item.average_rating),
                opt(&item.response_rate),
                opt(&item.replied_rate),
                moment(closed_at),
            ]
        })
        .collect()
}

/// Internal-service KPIs of a month (`period=YYYY-MM`, default the current one), per selling
/// company: employee orders
/// and their median fulfilment time, intercompany orders with median acceptance and shipping
/// times, on-time and rejection rates, feedback count, average rating, response and reply rates.
/// Finance and admins get every company of the group; a purchaser their own company. CSV with
/// `Accept: text/csv`.
#[utoipa::path(
    tag = "kpis", params(KpiQuery), security(("bearer" = ["purchaser", "finance", "admin"])),
    responses(
        (
            status = 200,
            description = "The report",
            content(
                (KpiReport = "application/json"),
                (
                    String = "text/csv",
                    example = "company_id,employee_orders,employee_fulfilment_hours_p50,\
                        intercompany_orders,acceptance_hours_p50,shipping_hours_p50,\
                        on_time_rate,overdue_open,rejection_rate,feedback_count,average_rating,\
                        response_rate,replied_rate,closed_at\n"
                )
            )
        ),
        (status = 400, description = "period not YYYY-MM"),
        (status = 403, description = "Not admin, finance or a purchaser")
    )
)]
#[get("/kpis/internal-service")]
pub async fn internal_service(
    user: Authorized<Trade>,
    state: web::Data<AppState>,
    query: crate::json::Query<KpiQuery>,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let company: Option<Uuid> = if user.has(Role::Admin) || user.has(Role::Finance) {
        None
    } else {
        Some(user.company_id.uuid())
    };
    let now = state.clock.now();
    let report = state
        .reads
        .read(0, async |conn| {
            let zone = crate::identity::queries::group_zone(conn, user.group_id).await?;
            let month = query.period.unwrap_or_else(|| Month::of(zone.today(now)));
            let (period, first) = (month.to_string(), month.first());
            let report = match frozen::load(conn, user.group_id, first, Report::InternalServiceKpis)
                .await?
            {
                // A closed month: the figures stored when it closed (a purchaser sees their own row).
                Some(body) => {
                    let mut stored = Figures::<KpiReport>::Stored(body).view()?;
                    stored
                        .items
                        .retain(|item| company.is_none_or(|c| c == item.company_id));
                    stored
                }
                None => compute(conn, user.group_id, (&period, zone), now, company, None).await?,
            };
            Ok(report)
        })
        .await?;
    let items = &report.items;
    if wants_csv(&request) {
        // The same CSV as the finance reports (header line, RFC 4180 quoting, LF line ends).
        return Ok(csv(&COLUMNS, csv_rows(items, report.closed_at)));
    }
    Ok(HttpResponse::Ok().json(report))
}

/// The report of the month `period` (`YYYY-MM`) as it stands at `now`: for every company of
/// the group, or only `company`.
pub async fn compute(
    conn: &mut diesel_async::AsyncPgConnection,
    group: GroupId,
    (period, zone): (&str, crate::domain::calendar::BusinessZone),
    now: DateTime<Utc>,
    company: Option<Uuid>,
    closed_at: Option<DateTime<Utc>>,
) -> Result<KpiReport, ApiError> {
    let month = crate::validation::period(period)?;
    let (first, next) = (month.first(), month.next());
    // The month of the group's calendar (in `zone`): it begins and ends at its local midnight.
    let (from, to) = (zone.start(first), zone.start(next));
    let items = queries::report(conn, group, (from, to), to.min(now), company, zone).await?;
    Ok(KpiReport {
        period: period.to_owned(),
        items,
        closed_at,
    })
}
