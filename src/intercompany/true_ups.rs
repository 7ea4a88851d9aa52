//! Year-end transfer-pricing true-ups (§6): per seller/buyer pair and policy with an
//! arm's-length range, the markup on cost achieved over the year's shipped lines, and the
//! adjustment that brings it back to the target (or the nearest bound). The markup is measured
//! on the shipped lines as priced at shipment, never on earlier true-ups, so the total due
//! depends only on the shipments; a run books that total minus what earlier runs booked.

use std::collections::HashMap;

use actix_web::http::StatusCode;
use actix_web::{get, post, web, HttpResponse};
use chrono::NaiveDate;
use diesel::prelude::*;
use diesel::sql_types::{Integer, Numeric, Text, Uuid as SqlUuid};
use diesel_async::{AsyncConnection as _, AsyncPgConnection, RunQueryDsl};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::dto::EntryKind;
use super::ledger::{self, Entry};
use super::policies::PolicyRow;
use super::queries;
use crate::audit::Change;
use crate::db::schema::transfer_pricing_policies as policies;
use crate::db::statement::statement;
use crate::domain::codes::CurrencyCode;
use crate::domain::transfer_pricing::{self, MarkupRange, YearTotals};
use crate::domain::{fx, money};
use crate::error::ApiError;
use crate::idempotency::Keyed;
use crate::identity::auth::{Authorized, CurrentUser, Finance};
use crate::ids::GroupId;
use crate::state::AppState;
use crate::write;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TrueUpQuery {
    /// The calendar year whose shipped lines are measured (2000–2100).
    #[param(minimum = 2000, maximum = 2100)]
    pub year: i32,
}

#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TrueUpBooking {
    /// 2000–2100.
    #[schema(minimum = 2000, maximum = 2100)]
    pub year: i32,
    /// Booking date of the adjustments: not in the future.
    pub date: NaiveDate,
}

/// One seller/buyer pair under one policy with a range.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TrueUpItem {
    pub seller_company_id: Uuid,
    pub buyer_company_id: Uuid,
    pub policy_id: Uuid,
    /// The document currency (the seller's).
    pub currency: String,
    /// Σ line_total of the year's shipped lines as priced at shipment.
    pub revenue: String,
    /// Σ quantity × unit_cost.
    pub cost: String,
    pub achieved_markup_percent: Option<String>,
    pub min_markup_percent: Option<String>,
    pub max_markup_percent: Option<String>,
    pub target_markup_percent: Option<String>,
    /// The year's whole adjustment: revenue at the target (or the nearest bound) minus the
    /// shipped revenue; zero when the markup is inside the range.
    pub total_adjustment: String,
    /// What a run books now: `total_adjustment` minus `already_booked` (signed).
    pub adjustment: String,
    /// True-ups already booked for this pair, policy and year.
    pub already_booked: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TrueUpReport {
    pub year: i32,
    pub items: Vec<TrueUpItem>,
}

#[derive(QueryableByName)]
struct Measured {
    #[diesel(sql_type = SqlUuid)]
    seller_company_id: Uuid,
    #[diesel(sql_type = SqlUuid)]
    buyer_company_id: Uuid,
    #[diesel(sql_type = SqlUuid)]
    policy_id: Uuid,
    #[diesel(sql_type = Text)]
    currency: CurrencyCode,
    #[diesel(sql_type = diesel::sql_types::Nullable<Numeric>)]
    min_markup_percent: Option<Decimal>,
    #[diesel(sql_type = diesel::sql_types::Nullable<Numeric>)]
    max_markup_percent: Option<Decimal>,
    #[diesel(sql_type = Numeric)]
    revenue: Decimal,
    #[diesel(sql_type = Numeric)]
    cost: Decimal,
    #[diesel(sql_type = Numeric)]
    booked: Decimal,
}

struct Computed {
    item: TrueUpItem,
    currency: CurrencyCode,
    adjustment: Decimal,
}

fn year_bounds(year: i32) -> Result<(NaiveDate, NaiveDate), ApiError> {
    let first = NaiveDate::from_ymd_opt(year, 1, 1);
    let next = year
        .checked_add(1)
        .and_then(|y| NaiveDate::from_ymd_opt(y, 1, 1));
    match (first, next) {
        (Some(first), Some(next)) if (2000..=2100).contains(&year) => Ok((first, next)),
        _ => Err(ApiError::bad_field(
            "year",
            "must be a year between 2000 and 2100",
        )),
    }
}

/// Measures every pair and policy of `group` shipped in `year`, with what is booked already.
async fn measure(
    conn: &mut AsyncPgConnection,
    group: GroupId,
    year: i32,
) -> Result<Vec<Computed>, ApiError> {
    let (first, next) = year_bounds(year)?;
    let measured: Vec<Measured> = statement(include_str!("true_ups.sql"))
        .bind::<SqlUuid, _>(group)
        .bind::<diesel::sql_types::Date, _>(first)
        .bind::<diesel::sql_types::Date, _>(next)
        .bind::<Integer, _>(year)
        .load(conn)
        .await?;
    let ids: Vec<Uuid> = measured.iter().map(|m| m.policy_id).collect();
    let terms: HashMap<Uuid, PolicyRow> = policies::table
        .filter(policies::group_id.eq(group))
        .filter(policies::id.eq_any(&ids))
        .select(PolicyRow::as_select())
        .load::<PolicyRow>(conn)
        .await?
        .into_iter()
        .map(|p| (p.id, p))
        .collect();
    let mut computed = Vec::new();
    for m in measured {
        if let Some(policy) = terms.get(&m.policy_id) {
            computed.extend(compute(m, policy)?);
        }
    }
    Ok(computed)
}

/// The true-up of one measured pair and policy, if its lines were priced under a range.
fn compute(m: Measured, policy: &PolicyRow) -> Result<Option<Computed>, ApiError> {
    let text = |d: Decimal| d.normalize().to_string();
    // The range the lines were priced under (policy terms never change once used).
    let range = MarkupRange {
        min: m.min_markup_percent,
        max: m.max_markup_percent,
    };
    if !range.is_set() {
        return Ok(None);
    }
    let currency = m.currency;
    let totals = YearTotals {
        revenue: m.revenue,
        cost: m.cost,
    };
    let due = transfer_pricing::true_up(totals, range, policy.target_markup_percent, currency)?;
    let adjustment = money::sub(due, m.booked)?;
    Ok(Some(Computed {
        item: TrueUpItem {
            seller_company_id: m.seller_company_id,
            buyer_company_id: m.buyer_company_id,
            policy_id: m.policy_id,
            currency: m.currency.to_string(),
            revenue: money::format(totals.revenue, currency),
            cost: money::format(totals.cost, currency),
            achieved_markup_percent: totals.achieved_markup()?.map(text),
            min_markup_percent: range.min.map(text),
            max_markup_percent: range.max.map(text),
            target_markup_percent: policy.target_markup_percent.map(text),
            total_adjustment: money::format(due, currency),
            adjustment: money::format(adjustment, currency),
            already_booked: money::format(m.booked, currency),
        },
        currency,
        adjustment,
    }))
}

/// Books `computed` on `date`: the seller's entry in the document currency and the buyer's at
/// the date's rate, both tagged with the policy and `year`.
async fn post(
    conn: &mut AsyncPgConnection,
    group: GroupId,
    computed: &Computed,
    (year, date): (i32, NaiveDate),
) -> Result<(), ApiError> {
    let item = &computed.item;
    let buyer = queries::company_currency(conn, group, item.buyer_company_id.into())
        .await?
        .ok_or_else(|| ApiError::internal("the buyer's currency is unknown"))?;
    let rate = crate::fx::queries::rate(conn, group, computed.currency, buyer, date).await?;
    let tag = Some((item.policy_id, year));
    ledger::post(
        conn,
        group,
        None,
        date,
        &[
            Entry {
                company_id: item.seller_company_id.into(),
                counterparty_company_id: item.buyer_company_id.into(),
                seller_side: true,
                kind: EntryKind::TrueUp,
                amount: computed.adjustment,
                currency: computed.currency,
                document_amount: computed.adjustment,
                document_currency: computed.currency,
                rate: Decimal::ONE,
                true_up: tag,
                reason: None,
                settles: None,
            },
            Entry {
                company_id: item.buyer_company_id.into(),
                counterparty_company_id: item.seller_company_id.into(),
                seller_side: false,
                kind: EntryKind::TrueUp,
                amount: fx::convert(computed.adjustment, rate, buyer)?,
                currency: buyer,
                document_amount: computed.adjustment,
                document_currency: computed.currency,
                rate,
                true_up: tag,
                reason: None,
                settles: None,
            },
        ],
    )
    .await?;
    Ok(())
}

/// Preview the year's true-ups (finance).
#[utoipa::path(
    tag = "intercompany", params(TrueUpQuery), security(("bearer" = ["finance"])),
    responses((status = 200, body = TrueUpReport))
)]
#[get("/transfer-pricing/true-ups")]
pub async fn preview(
    user: Authorized<Finance>,
    state: web::Data<AppState>,
    query: crate::json::Query<TrueUpQuery>,
) -> Result<web::Json<TrueUpReport>, ApiError> {
    let mut conn = state.pool.get().await?;
    let items = measure(&mut conn, user.group_id, query.year)
        .await?
        .into_iter()
        .map(|c| c.item)
        .collect();
    Ok(web::Json(TrueUpReport {
        year: query.year,
        items,
    }))
}

/// Book the year's true-ups (finance): for every pair and policy outside its range, the
/// seller's and the buyer's entry (the buyer's at the date's rate), all in one transaction.
/// Booking the year again books only what changed since. Answers what was booked.
#[utoipa::path(
    tag = "intercompany", request_body = TrueUpBooking,
    params(crate::idempotency::OptionalKeyParam), security(("bearer" = ["finance"])),
    responses(
        (status = 200, body = TrueUpReport),
        (status = 409, description = "period_closed, or request_in_progress"),
        (
            status = 422,
            description = "A date in the future or before the year, fx_rate_missing, \
                idempotency_key_reused"
        )
    )
)]
#[post("/transfer-pricing/true-ups")]
pub async fn book(
    user: Authorized<Finance>,
    state: web::Data<AppState>,
    request: Keyed<TrueUpBooking>,
) -> Result<HttpResponse, ApiError> {
    let (booking, once) = request.parse("POST /transfer-pricing/true-ups")?;
    let TrueUpBooking { year, date } = booking;
    let (first, _) = year_bounds(year)?;
    if date < first {
        return Err(ApiError::invalid_field(
            "date",
            format!(
                "must not be before {first}: a true-up is booked in or after the year it corrects"
            ),
        ));
    }
    let user: &CurrentUser = &user;
    let now = state.clock.now();
    let mut conn = state.pool.get().await?;
    once.run(&mut conn, user.id, async move |conn| {
        let booked = conn
            .transaction::<_, ApiError, _>(async |conn| {
                // One booking per group at a time: two at once would both see nothing booked yet.
                statement(
                    "SELECT pg_advisory_xact_lock(hashtextextended('true-up:' || $1::text, 0))",
                )
                .bind::<SqlUuid, _>(user.group_id)
                .execute(conn)
                .await?;
                let today = crate::bookings::today(conn, user.group_id, now).await?;
                crate::bookings::check(conn, user.group_id, "date", date, today).await?;
                let mut booked = Vec::new();
                for computed in measure(conn, user.group_id, year).await? {
                    if computed.adjustment.is_zero() {
                        continue;
                    }
                    post(conn, user.group_id, &computed, (year, date)).await?;
                    booked.push(computed.item);
                }
                let report = TrueUpReport {
                    year,
                    items: booked,
                };
                if !report.items.is_empty() {
                    let change = Change::new(
                        "transfer_pricing.true_up_booked",
                        "group",
                        user.group_id.uuid(),
                    );
                    let after =
                        serde_json::json!({"year": year, "date": date, "items": report.items});
                    write::by(user, user.group_id)
                        .record(conn, change.after(&after))
                        .await?;
                }
                Ok(report)
            })
            .await?;
        Ok((StatusCode::OK, crate::json::to_value(&booked)?))
    })
    .await
}
