//! Reports of closed months (§7 "a closed month is frozen"): closing a month stores each of its
//! reports as the JSON it answered then, and every later request for that month gets exactly
//! those bytes, whatever happens afterwards (rates, cancellations, master data). The store is
//! append-only in the database (migration 000012).

use actix_web::{HttpRequest, HttpResponse};
use chrono::NaiveDate;
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::csv::wants_csv;
use crate::db::schema::closed_period_reports as stored;
use crate::error::ApiError;
use crate::ids::GroupId;

/// The reports a closed month keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Report {
    Reconciliation,
    Eliminations,
    InternalSales,
    TransferPricingExceptions,
    InternalServiceKpis,
}

impl Report {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Reconciliation => "reconciliation",
            Self::Eliminations => "eliminations",
            Self::InternalSales => "internal_sales",
            Self::TransferPricingExceptions => "transfer_pricing_exceptions",
            Self::InternalServiceKpis => "internal_service_kpis",
        }
    }
}

/// The stored answer of `report` for the month beginning `first`, when that month is closed.
pub async fn load(
    conn: &mut AsyncPgConnection,
    group: GroupId,
    first: NaiveDate,
    report: Report,
) -> Result<Option<String>, ApiError> {
    Ok(stored::table
        .filter(stored::group_id.eq(group))
        .filter(stored::period.eq(first))
        .filter(stored::report.eq(report.as_str()))
        .select(stored::body)
        .first(conn)
        .await
        .optional()?)
}

/// Stores `view` as the answer of `report` for the closed month beginning `first`.
pub async fn store(
    conn: &mut AsyncPgConnection,
    group: GroupId,
    first: NaiveDate,
    report: Report,
    view: &impl Serialize,
) -> Result<(), ApiError> {
    let body = serde_json::to_string(view).map_err(|e| ApiError::Internal(e.into()))?;
    diesel::insert_into(stored::table)
        .values((
            stored::group_id.eq(group),
            stored::period.eq(first),
            stored::report.eq(report.as_str()),
            stored::body.eq(body),
        ))
        .execute(conn)
        .await?;
    Ok(())
}

/// A report's figures: the stored JSON of a closed month, or the view computed now.
pub enum Figures<V> {
    Stored(String),
    Live(V),
}

impl<V: Serialize + DeserializeOwned> Figures<V> {
    /// The view itself (the stored one read back), for CSV or for filtering.
    pub fn view(self) -> Result<V, ApiError> {
        match self {
            Self::Stored(body) => {
                serde_json::from_str(&body).map_err(|e| ApiError::Internal(e.into()))
            }
            Self::Live(view) => Ok(view),
        }
    }

    /// The answer: CSV through `to_csv` when asked, else the JSON (a stored body as stored).
    pub fn answer(
        self,
        req: &HttpRequest,
        to_csv: impl FnOnce(&V) -> HttpResponse,
    ) -> Result<HttpResponse, ApiError> {
        if wants_csv(req) {
            return Ok(to_csv(&self.view()?));
        }
        Ok(match self {
            Self::Stored(body) => HttpResponse::Ok()
                .content_type("application/json")
                .body(body),
            Self::Live(view) => HttpResponse::Ok().json(view),
        })
    }
}
