//! Request and response shapes of FX rates.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::domain::codes::CurrencyCode;

/// One unit of `base` is worth `rate` units of `quote` from `date` on.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct FxRateView {
    pub id: Uuid,
    #[schema(example = "EUR")]
    pub base: String,
    #[schema(example = "USD")]
    pub quote: String,
    /// Decimal string, e.g. `"1.0842"`.
    #[schema(example = "1.0842")]
    pub rate: String,
    pub date: NaiveDate,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewFxRate {
    /// ISO 4217 code.
    #[schema(example = "EUR")]
    pub base: CurrencyCode,
    /// ISO 4217 code, not the base.
    #[schema(example = "USD")]
    pub quote: CurrencyCode,
    /// Positive decimal string: at most 9 integer digits and 12 decimals.
    #[schema(example = "1.0842", pattern = r"^[0-9]{1,9}(\.[0-9]{1,12})?$")]
    pub rate: String,
    /// `YYYY-MM-DD`: the rate applies from this day until a later one.
    pub date: NaiveDate,
}

crate::paged_query! {
    pub struct FxRateQuery {
        /// Only this base currency.
        pub base: Option<CurrencyCode>,
        /// Only this quote currency.
        pub quote: Option<CurrencyCode>,
        /// Only rates dated on or before this day (with `base` and `quote`: the first item is the
        /// rate that applies that day).
        pub on_or_before: Option<NaiveDate>,
    }
}
