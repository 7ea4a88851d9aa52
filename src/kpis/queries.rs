//! The report's one statement.

use chrono::{DateTime, Utc};
use diesel::sql_types::{BigInt, Nullable, Numeric, Timestamptz, Uuid as SqlUuid};
use diesel::QueryableByName;
use diesel_async::{AsyncConnection as _, AsyncPgConnection, RunQueryDsl};
use rust_decimal::Decimal;
use uuid::Uuid;

use super::dto::KpiItem;
use crate::db::statement::statement;
use crate::error::ApiError;
use crate::ids::GroupId;

#[derive(QueryableByName)]
struct Row {
    #[diesel(sql_type = SqlUuid)]
    company_id: Uuid,
    #[diesel(sql_type = BigInt)]
    employee_orders: i64,
    #[diesel(sql_type = Nullable<Numeric>)]
    employee_fulfilment_hours_p50: Option<Decimal>,
    #[diesel(sql_type = BigInt)]
    intercompany_orders: i64,
    #[diesel(sql_type = Nullable<Numeric>)]
    acceptance_hours_p50: Option<Decimal>,
    #[diesel(sql_type = Nullable<Numeric>)]
    shipping_hours_p50: Option<Decimal>,
    #[diesel(sql_type = Nullable<Numeric>)]
    on_time_rate: Option<Decimal>,
    #[diesel(sql_type = BigInt)]
    overdue_open: i64,
    #[diesel(sql_type = Nullable<Numeric>)]
    rejection_rate: Option<Decimal>,
    #[diesel(sql_type = BigInt)]
    feedback_count: i64,
    #[diesel(sql_type = Nullable<Numeric>)]
    average_rating: Option<Decimal>,
    #[diesel(sql_type = Nullable<Numeric>)]
    response_rate: Option<Decimal>,
    #[diesel(sql_type = Nullable<Numeric>)]
    replied_rate: Option<Decimal>,
}

/// A figure as the API writes it: the decimal without trailing zeros (`"0.5"`, `"1"`).
fn text(value: Option<Decimal>) -> Option<String> {
    value.map(|v| v.normalize().to_string())
}

/// The statement, as benchmarks and tests may run it by hand.
pub const REPORT_SQL: &str = include_str!("report.sql");

/// The figures of `group` for the orders placed in `[from, to)` (and promised for a day of it),
/// seen at `seen` (the end of the month, or now while it runs), per company (only `company`
/// when given), ordered by company code.
pub async fn report(
    conn: &mut AsyncPgConnection,
    group: GroupId,
    (from, to): (DateTime<Utc>, DateTime<Utc>),
    seen: DateTime<Utc>,
    company: Option<Uuid>,
    zone: crate::domain::calendar::BusinessZone,
) -> Result<Vec<KpiItem>, ApiError> {
    // Pooled connections reuse generic plans (src/db/mod.rs). A generic plan cannot know how
    // much of the year the month is nor whether one company is asked for, and chose a slower
    // join and aggregation strategy (1.7× the time in the KPI benchmark); planning for the
    // actual values costs about a millisecond.
    let rows: Vec<Row> = conn
        .transaction::<_, diesel::result::Error, _>(async move |conn| {
            diesel::sql_query("SET LOCAL plan_cache_mode = force_custom_plan")
                .execute(conn)
                .await?;
            statement(REPORT_SQL)
                .bind::<SqlUuid, _>(group)
                .bind::<Timestamptz, _>(from)
                .bind::<Timestamptz, _>(to)
                .bind::<Nullable<SqlUuid>, _>(company)
                .bind::<Timestamptz, _>(seen)
                .bind::<diesel::sql_types::Text, _>(zone.name())
                .load(conn)
                .await
        })
        .await?;
    Ok(rows
        .into_iter()
        .map(|r| KpiItem {
            company_id: r.company_id,
            employee_orders: r.employee_orders,
            employee_fulfilment_hours_p50: text(r.employee_fulfilment_hours_p50),
            intercompany_orders: r.intercompany_orders,
            acceptance_hours_p50: text(r.acceptance_hours_p50),
            shipping_hours_p50: text(r.shipping_hours_p50),
            on_time_rate: text(r.on_time_rate),
            overdue_open: r.overdue_open,
            rejection_rate: text(r.rejection_rate),
            feedback_count: r.feedback_count,
            average_rating: text(r.average_rating),
            response_rate: text(r.response_rate),
            replied_rate: text(r.replied_rate),
        })
        .collect())
}
