//! Liveness (the process answers) and readiness (the database answers too).

use std::time::Duration;

use actix_web::{get, web, HttpResponse};
use serde::Serialize;
use utoipa::ToSchema;

use crate::catalog::cache::ListingCache;
use crate::error::ApiError;
use crate::state::AppState;

#[derive(Serialize, ToSchema)]
pub struct HealthStatus {
    /// `ok`
    pub status: &'static str,
    /// Readiness only: `connected` when the listing cache is in use, `bypassed` while its
    /// listener is (re)connecting (listings then read the database), `off` when disabled.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listing_cache: Option<&'static str>,
}

/// Liveness: the process is up and serving. Never touches the database.
#[utoipa::path(tag = "health", responses((status = 200, body = HealthStatus)))]
#[get("/health/live")]
pub async fn live() -> HttpResponse {
    HttpResponse::Ok().json(HealthStatus {
        status: "ok",
        listing_cache: None,
    })
}

/// Readiness: the database answers within two seconds; 503 `unavailable` otherwise.
#[utoipa::path(
    tag = "health",
    responses(
        (status = 200, body = HealthStatus),
        (status = 503, description = "Database unavailable")
    )
)]
#[get("/health/ready")]
pub async fn ready(
    state: web::Data<AppState>,
    cache: web::Data<ListingCache>,
) -> Result<HttpResponse, ApiError> {
    if crate::db::ping(&state.pool, Duration::from_secs(2)).await {
        Ok(HttpResponse::Ok().json(HealthStatus {
            status: "ok",
            listing_cache: Some(cache.status()),
        }))
    } else {
        Err(ApiError::Unavailable(
            "database did not answer the readiness probe".into(),
        ))
    }
}
