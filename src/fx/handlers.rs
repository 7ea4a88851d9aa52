//! FX rate endpoints.

use actix_web::http::StatusCode;
use actix_web::{get, post, web, HttpResponse};
use chrono::{DateTime, NaiveDate, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use rust_decimal::Decimal;
use uuid::Uuid;

use super::dto::*;
use crate::audit::Change;
use crate::db::schema::fx_rates;
use crate::error::{ApiError, FieldError};
use crate::idempotency::Keyed;
use crate::identity::auth::{Authorized, Finance};
use crate::pagination::Page;
use crate::state::AppState;
use crate::write;

#[derive(Debug, Queryable, Selectable)]
#[diesel(table_name = fx_rates)]
struct FxRateRow {
    id: Uuid,
    base: String,
    quote: String,
    rate: Decimal,
    date: NaiveDate,
    created_at: DateTime<Utc>,
}

impl From<FxRateRow> for FxRateView {
    fn from(row: FxRateRow) -> Self {
        Self {
            id: row.id,
            base: row.base,
            quote: row.quote,
            rate: row.rate.normalize().to_string(),
            date: row.date,
            created_at: row.created_at,
        }
    }
}

/// List the group's FX rates, newest day first (finance).
#[utoipa::path(
    tag = "fx", params(FxRateQuery), security(("bearer" = ["finance"])),
    responses(
        (status = 200, body = Page<FxRateView>),
        (status = 403, description = "Not finance")
    )
)]
#[get("/fx-rates")]
pub async fn list_rates(
    user: Authorized<Finance>,
    state: web::Data<AppState>,
    query: crate::json::Query<FxRateQuery>,
) -> Result<web::Json<Page<FxRateView>>, ApiError> {
    let page = query.page::<(NaiveDate, Uuid)>()?;
    let mut sql = fx_rates::table
        .filter(fx_rates::group_id.eq(user.group_id))
        .select(FxRateRow::as_select())
        .order((fx_rates::date.desc(), fx_rates::id.desc()))
        .limit(page.fetch())
        .into_boxed();
    if let Some(base) = query.base {
        sql = sql.filter(fx_rates::base.eq(base));
    }
    if let Some(quote) = query.quote {
        sql = sql.filter(fx_rates::quote.eq(quote));
    }
    if let Some(day) = query.on_or_before {
        sql = sql.filter(fx_rates::date.le(day));
    }
    if let Some((date, id)) = page.after {
        sql = sql.filter(
            fx_rates::date
                .lt(date)
                .or(fx_rates::date.eq(date).and(fx_rates::id.lt(id))),
        );
    }
    let mut conn = state.pool.get().await?;
    let rows = sql.load(&mut conn).await?;
    let views = rows.into_iter().map(FxRateView::from).collect();
    Ok(web::Json(page.of(views, |r: &FxRateView| (r.date, r.id))))
}

/// A positive rate: a plain decimal string with at most 9 integer digits and 12 decimals (the
/// same strict reading as every amount and percentage, `money::parse_plain_decimal`).
fn parse_rate(raw: &str) -> Option<Decimal> {
    crate::domain::money::parse_plain_decimal(raw, 9, 12)
        .ok()
        .filter(|r| *r > Decimal::ZERO)
}

/// Record a rate (finance). One rate per pair and day: a second is 409. Dated not after
/// today and never in a closed month (409 `period_closed`: it would move that month's
/// remeasurement).
#[utoipa::path(
    tag = "fx", request_body = NewFxRate, params(crate::idempotency::OptionalKeyParam),
    security(("bearer" = ["finance"])),
    responses(
        (status = 201, body = FxRateView),
        (
            status = 409,
            description = "A rate for this pair and day exists, period_closed, or \
                request_in_progress"
        ),
        (status = 422, description = "Invalid fields, or idempotency_key_reused")
    )
)]
#[post("/fx-rates")]
pub async fn create_rate(
    finance: Authorized<Finance>,
    state: web::Data<AppState>,
    request: Keyed<NewFxRate>,
) -> Result<HttpResponse, ApiError> {
    let (new, once) = request.parse("POST /fx-rates")?;
    let mut errors = Vec::new();
    if new.base == new.quote {
        errors.push(FieldError::new("quote", "must differ from base"));
    }
    let rate = parse_rate(&new.rate);
    if rate.is_none() {
        errors.push(FieldError::new(
            "rate",
            "must be a positive decimal string with at most 9 integer digits and 12 decimals",
        ));
    }
    let (Some(rate), true) = (rate, errors.is_empty()) else {
        return Err(ApiError::invalid(errors));
    };
    let now = state.clock.now();
    let mut conn = state.pool.get().await?;
    let user = &finance.user;
    let changes = &state.changes;
    once.run(&mut conn, user.id, async move |conn| {
        let view = write::by(user, user.group_id)
            .conflict("date", "a rate for this pair and day is already recorded")
            .run(conn, changes, async move |conn| {
                let today = crate::bookings::today(conn, user.group_id, now).await?;
                crate::bookings::check(conn, user.group_id, "date", new.date, today).await?;
                let row: FxRateRow = diesel::insert_into(fx_rates::table)
                    .values((
                        fx_rates::group_id.eq(user.group_id),
                        fx_rates::base.eq(new.base),
                        fx_rates::quote.eq(new.quote),
                        fx_rates::rate.eq(rate),
                        fx_rates::date.eq(new.date),
                    ))
                    .returning(FxRateRow::as_returning())
                    .get_result(conn)
                    .await?;
                let view = FxRateView::from(row);
                let change = Change::new("fx_rate.created", "fx_rate", view.id).after(&view);
                Ok((view, change))
            })
            .await?;
        Ok((StatusCode::CREATED, crate::json::to_value(&view)?))
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::parse_rate;

    #[test]
    fn rates_are_plain_positive_decimals() {
        assert!(parse_rate("1.0842").is_some());
        assert!(parse_rate("151").is_some());
        assert!(parse_rate("0.000000000001").is_some());
        for bad in [
            "0",
            "-1.2",
            "1e3",
            "+1.1",
            "1.",
            ".5",
            "1_000",
            "1.0000000000001",
            "1234567890",
        ] {
            assert!(parse_rate(bad).is_none(), "{bad}");
        }
    }
}
