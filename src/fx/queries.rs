//! Database work for FX rates, and the one rate lookup every conversion uses.

use chrono::NaiveDate;
use diesel::prelude::*;
use diesel::sql_types::{Bool, Date, Numeric, Text, Uuid as SqlUuid};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use rust_decimal::Decimal;

use crate::db::statement::statement;
use crate::domain::codes::CurrencyCode;
use crate::domain::fx::{self, StoredRate};
use crate::error::ApiError;
use crate::ids::GroupId;

#[derive(QueryableByName)]
struct Found {
    #[diesel(sql_type = Numeric)]
    rate: Decimal,
    #[diesel(sql_type = Bool)]
    inverted: bool,
    #[diesel(sql_type = Date)]
    #[allow(dead_code)]
    date: NaiveDate,
}

/// The rate converting one `base` into `quote` in `group` on `date`: 1 for one currency, the
/// latest rate on or before the day, else the inverse of the inverse pair's; otherwise 422
/// `fx_rate_missing`.
pub async fn rate(
    conn: &mut AsyncPgConnection,
    group: GroupId,
    base: CurrencyCode,
    quote: CurrencyCode,
    date: NaiveDate,
) -> Result<Decimal, ApiError> {
    lookup(conn, group, base, quote, date)
        .await?
        .ok_or_else(|| missing(base, quote, date))
}

/// Like [`rate`], with `None` when no rate is known.
pub async fn lookup(
    conn: &mut AsyncPgConnection,
    group: GroupId,
    base: CurrencyCode,
    quote: CurrencyCode,
    date: NaiveDate,
) -> Result<Option<Decimal>, ApiError> {
    if base == quote {
        return Ok(Some(Decimal::ONE));
    }
    let found: Option<Found> =
        statement("SELECT rate, inverted, date FROM fx_lookup($1, $2, $3, $4)")
            .bind::<SqlUuid, _>(group)
            .bind::<Text, _>(base.as_str())
            .bind::<Text, _>(quote.as_str())
            .bind::<Date, _>(date)
            .get_result(conn)
            .await
            .optional()?;
    Ok(found.and_then(|f| {
        fx::effective_rate(StoredRate {
            rate: f.rate,
            inverted: f.inverted,
        })
    }))
}

pub fn missing(base: CurrencyCode, quote: CurrencyCode, date: NaiveDate) -> ApiError {
    ApiError::unprocessable(
        "fx_rate_missing",
        format!(
            "no {base}→{quote} exchange rate is known on or before {date} (nor {quote}→{base}); \
             finance records rates with POST /api/v1/fx-rates",
            base = base.as_str(),
            quote = quote.as_str()
        ),
    )
}
