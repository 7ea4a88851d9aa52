//! Month close: a closed month takes no entry, whatever writes it (the database refuses it:
//! migration 000010). Closing takes the month's lock exclusively; every booking takes it shared.

use actix_web::{get, post, web, HttpResponse};
use chrono::{DateTime, NaiveDate, Utc};
use diesel::prelude::*;
use diesel::sql_types::Text;
use diesel_async::{AsyncConnection as _, RunQueryDsl};
use uuid::Uuid;

use super::dto::*;
use crate::audit::{self, Change};
use crate::db::schema::closed_periods;
use crate::db::statement::statement;
use crate::domain::period;
use crate::error::ApiError;
use crate::identity::auth::{AdminOrFinance, Authorized, Finance};
use crate::pagination::{Page, PageRequest};
use crate::state::AppState;

#[derive(Queryable, Selectable)]
#[diesel(table_name = closed_periods)]
struct ClosedRow {
    period: NaiveDate,
    closed_by: Uuid,
    closed_at: DateTime<Utc>,
}

impl From<ClosedRow> for ClosedPeriodView {
    fn from(row: ClosedRow) -> Self {
        Self {
            period: row.period.format("%Y-%m").to_string(),
            closed_by: row.closed_by,
            closed_at: row.closed_at,
        }
    }
}

/// Close a month (finance). Only a month that has ended; closing it again → 409.
#[utoipa::path(tag = "finance", params(("period" = String, Path, pattern = r"^[0-9]{4}-(0[1-9]|1[0-2])$", description = "`YYYY-MM`")), security(("bearer" = ["finance"])), responses((status = 201, body = ClosedPeriodView), (status = 409, description = "Already closed"), (status = 422, description = "The month has not ended")))]
#[post("/finance/periods/{period}/close")]
#[tracing::instrument(skip_all)]
pub async fn close_period(
    user: Authorized<Finance>,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let (first, next) =
        period::month(&path).ok_or_else(|| ApiError::bad_field("period", "must be YYYY-MM"))?;
    if next > state.clock.today() {
        return Err(ApiError::invalid_field(
            "period",
            "only a month that has ended can be closed",
        ));
    }
    let user = &user.user;
    let mut conn = state.pool.get().await?;
    let view = conn
        .transaction::<_, ApiError, _>(async |conn| {
            // Waits for bookings into the month that are still running; later ones wait for us.
            statement("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
                .bind::<Text, _>(format!("period:{}:{first}", user.group_id))
                .execute(conn)
                .await?;
            let row: ClosedRow = diesel::insert_into(closed_periods::table)
                .values((
                    closed_periods::group_id.eq(user.group_id),
                    closed_periods::period.eq(first),
                    closed_periods::closed_by.eq(user.id),
                ))
                .returning(ClosedRow::as_returning())
                .get_result(conn)
                .await?;
            let view = ClosedPeriodView::from(row);
            audit::record(
                conn,
                user.group_id,
                Some(user),
                Change::new("period.closed", "group", user.group_id).after(&view),
            )
            .await?;
            Ok(view)
        })
        .await
        .map_err(|e| e.explain_conflict("period", "this month is already closed"))?;
    Ok(HttpResponse::Created().json(view))
}

/// The group's closed months, newest first (finance, admins).
#[utoipa::path(tag = "finance", params(RunsQuery), security(("bearer" = ["admin", "finance"])), responses((status = 200, body = Page<ClosedPeriodView>)))]
#[get("/finance/periods")]
#[tracing::instrument(skip_all)]
pub async fn list_periods(
    user: Authorized<AdminOrFinance>,
    state: web::Data<AppState>,
    query: crate::json::Query<RunsQuery>,
) -> Result<web::Json<Page<ClosedPeriodView>>, ApiError> {
    let page = PageRequest::<NaiveDate>::parse(query.limit, query.cursor.as_deref())?;
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
    Ok(web::Json(Page::from_rows(
        views,
        page.limit,
        |v: &ClosedPeriodView| cursor_of.get(&v.period).copied().unwrap_or_default(),
    )))
}
