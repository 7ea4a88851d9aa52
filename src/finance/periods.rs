//! Month close: months close in order, a closed month (and every month before it) takes no
//! entry whatever writes it (the database refuses it: migration 000012), and its reports are
//! stored as they stood (`crate::frozen`). Closing takes the group's books lock exclusively;
//! every booking takes it shared.

use actix_web::{get, post, web, HttpResponse};
use chrono::{DateTime, Months, NaiveDate, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Nullable, Text, Uuid as SqlUuid};
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use super::dto::*;
use super::reports::MonthReport;
use crate::audit::Change;
use crate::db::schema::closed_periods;
use crate::db::statement::statement;
use crate::domain::calendar::BusinessDay;
use crate::domain::period::Month;
use crate::error::ApiError;
use crate::frozen::{self, Report};
use crate::identity::auth::{AdminOrFinance, Authorized, Finance};
use crate::ids::{EmployeeId, GroupId};
use crate::intercompany::exceptions;
use crate::kpis;
use crate::pagination::Page;
use crate::state::AppState;
use crate::write;

#[derive(Queryable, Selectable)]
#[diesel(table_name = closed_periods)]
struct ClosedRow {
    period: NaiveDate,
    closed_by: EmployeeId,
    closed_at: DateTime<Utc>,
}

impl From<ClosedRow> for ClosedPeriodView {
    fn from(row: ClosedRow) -> Self {
        Self {
            period: row.period.format("%Y-%m").to_string(),
            closed_by: row.closed_by.into(),
            closed_at: row.closed_at,
        }
    }
}

/// Computes report `R` of the month `period` (beginning `first`) and stores it as closed.
async fn store<R: MonthReport>(
    conn: &mut AsyncPgConnection,
    group: GroupId,
    (period, first): (Month, NaiveDate),
    day: BusinessDay,
    closed_at: Option<DateTime<Utc>>,
) -> Result<(), ApiError> {
    let view = R::compute(conn, group, period, day, closed_at).await?;
    frozen::store(conn, group, first, R::STORED_AS, &view).await
}

/// The first day of the group's first month with an order (employee or intercompany) or a
/// ledger entry; FX rates do not count. None while the group has none.
async fn first_active_month(
    conn: &mut AsyncPgConnection,
    group: GroupId,
    zone: crate::domain::calendar::BusinessZone,
) -> Result<Option<NaiveDate>, ApiError> {
    #[derive(QueryableByName)]
    struct First {
        #[diesel(sql_type = Nullable<diesel::sql_types::Date>)]
        first: Option<NaiveDate>,
    }
    let row: First = statement(
        "SELECT date_trunc('month', least( \
             (SELECT min(created_at) FROM orders WHERE group_id = $1) AT TIME ZONE $2, \
             (SELECT min(created_at) FROM intercompany_orders WHERE group_id = $1) AT TIME ZONE $2, \
             (SELECT min(date) FROM ledger_entries WHERE group_id = $1)::timestamp))::date AS first",
    )
    .bind::<SqlUuid, _>(group)
    .bind::<Text, _>(zone.name())
    .get_result(conn)
    .await?;
    Ok(row.first)
}

/// Close a month (finance): only a month that has ended, and in order (from the group's first
/// month with an order or a ledger entry, every earlier month must be closed: else 409
/// `period_not_next`). Closing stores the month's reports as they stand (reconciliation,
/// eliminations, internal sales, transfer-pricing exceptions, internal-service KPIs); every
/// later request for the month answers exactly those. Closing it again → 409.
#[utoipa::path(
    tag = "finance",
    params(
        (
            "period" = String,
            Path,
            pattern = r"^[0-9]{4}-(0[1-9]|1[0-2])$",
            description = "`YYYY-MM`"
        )
    ),
    security(("bearer" = ["finance"])),
    responses(
        (status = 201, body = ClosedPeriodView),
        (
            status = 409,
            description = "Already closed (`conflict`), or an earlier month is open \
                (`period_not_next`)"
        ),
        (status = 422, description = "The month has not ended, or fx_rate_missing for its reports")
    )
)]
#[post("/finance/periods/{period}/close")]
pub async fn close_period(
    user: Authorized<Finance>,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let month = crate::validation::period(&path)?;
    let (first, next) = (month.first(), month.next());
    let now = state.clock.now();
    let user = &user.user;
    let group = user.group_id;
    let period = path.into_inner();
    let mut conn = state.pool.get().await?;
    let zone = crate::identity::queries::group_zone(&mut conn, group).await?;
    let day = zone.day(now);
    let today = day.today;
    if next > today {
        return Err(ApiError::invalid_field(
            "period",
            "only a month that has ended can be closed",
        ));
    }
    let view = write::by(user, group)
        .conflict("period", "this month is already closed")
        .run(&mut conn, &state.changes, async move |conn| {
            // The group's books, exclusively: bookings still running finish first, later ones
            // wait and then find the month closed (migration 000012).
            statement("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
                .bind::<Text, _>(format!("books:{group}"))
                .execute(conn)
                .await?;
            if let Some(start) = first_active_month(conn, group, zone).await? {
                let previous = first
                    .checked_sub_months(Months::new(1))
                    .ok_or_else(|| ApiError::bad_field("period", "must be YYYY-MM"))?;
                let previous_closed = closed_periods::table
                    .filter(closed_periods::group_id.eq(group))
                    .filter(closed_periods::period.eq(previous))
                    .count()
                    .get_result::<i64>(conn)
                    .await?
                    > 0;
                if first > start && !previous_closed {
                    return Err(ApiError::conflict(
                        "period_not_next",
                        format!(
                            "{} must be closed first: months close in order from {}",
                            previous.format("%Y-%m"),
                            start.format("%Y-%m")
                        ),
                    ));
                }
            }
            let row: ClosedRow = diesel::insert_into(closed_periods::table)
                .values((
                    closed_periods::group_id.eq(group),
                    closed_periods::period.eq(first),
                    closed_periods::closed_by.eq(user.id),
                ))
                .returning(ClosedRow::as_returning())
                .get_result(conn)
                .await?;
            let closed_at = Some(row.closed_at);
            store::<ReconciliationView>(conn, group, (month, first), day, closed_at).await?;
            store::<EliminationsView>(conn, group, (month, first), day, closed_at).await?;
            store::<InternalSalesView>(conn, group, (month, first), day, closed_at).await?;
            let exceptions = exceptions::compute(conn, group, &period, today, closed_at).await?;
            frozen::store(
                conn,
                group,
                first,
                Report::TransferPricingExceptions,
                &exceptions,
            )
            .await?;
            let kpis =
                kpis::handlers::compute(conn, group, (&period, zone), now, None, closed_at).await?;
            frozen::store(conn, group, first, Report::InternalServiceKpis, &kpis).await?;
            let view = ClosedPeriodView::from(row);
            let change = Change::new("period.closed", "group", group.uuid()).after(&view);
            Ok((view, change))
        })
        .await?;
    Ok(HttpResponse::Created().json(view))
}

/// The group's closed months, newest first (finance, admins).
#[utoipa::path(
    tag = "finance", params(RunsQuery), security(("bearer" = ["admin", "finance"])),
    responses((status = 200, body = Page<ClosedPeriodView>))
)]
#[get("/finance/periods")]
pub async fn list_periods(
    user: Authorized<AdminOrFinance>,
    state: web::Data<AppState>,
    query: crate::json::Query<RunsQuery>,
) -> Result<web::Json<Page<ClosedPeriodView>>, ApiError> {
    let page = query.page::<NaiveDate>()?;
    let mut sql = closed_periods::table
        .filter(closed_periods::group_id.eq(user.group_id))
        .select(ClosedRow::as_select())
        .order(closed_periods::period.desc())
        .limit(page.fetch())
        .into_boxed();
    if let Some(after) = page.after {
        sql = sql.filter(closed_periods::period.lt(after));
    }
    let mut conn = state.pool.get().await?;
    let rows = sql.load(&mut conn).await?;
    let keyed: Vec<(NaiveDate, ClosedPeriodView)> = rows
        .into_iter()
        .map(|r| (r.period, ClosedPeriodView::from(r)))
        .collect();
    let cursor_of: std::collections::HashMap<String, NaiveDate> = keyed
        .iter()
        .map(|(day, view)| (view.period.clone(), *day))
        .collect();
    let views = keyed.into_iter().map(|(_, view)| view).collect();
    Ok(web::Json(page.of(views, |v: &ClosedPeriodView| {
        cursor_of.get(&v.period).copied().unwrap_or_default()
    })))
}
