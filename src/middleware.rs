//! Request middleware of our own: the request id echoed, bodies bounded before they are
//! read, unstorable query strings refused, and every error turned into problem+json.

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::{header, StatusCode};
use actix_web::middleware::Next;
use actix_web::{HttpMessage, HttpResponse};
use tracing_actix_web::RequestId;

use crate::error::{self, ApiError, PROBLEM_JSON};

/// Echoes the request id that tracing-actix-web put on the request span.
pub async fn request_id_header(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let request_id = req.extensions().get::<RequestId>().map(ToString::to_string);
    let mut response = next.call(req).await?;
    if let Some(id) = request_id.and_then(|id| header::HeaderValue::from_str(&id).ok()) {
        response
            .headers_mut()
            .insert(header::HeaderName::from_static("x-request-id"), id);
    }
    Ok(response)
}

/// Refuses a declared body over the limit before any handler runs, whatever the route.
pub async fn limit_declared_body(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
    limit: usize,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|length| length > u64::try_from(limit).unwrap_or(u64::MAX)) {
        let response =
            actix_web::ResponseError::error_response(&ApiError::PayloadTooLarge { limit });
        return Ok(req.into_response(response));
    }
    Ok(next.call(req).await?.map_into_boxed_body())
}

/// A query parameter holding U+0000 (`%00`) → 400 naming it, before any handler: no text
/// PostgreSQL cannot store reaches it (bodies get the same check in [`crate::body`]).
pub async fn refuse_unstorable_query(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let unstorable = url::form_urlencoded::parse(req.query_string().as_bytes())
        .find(|(name, value)| !crate::body::storable(name) || !crate::body::storable(value))
        .map(|(name, _)| name.replace('\0', "\\0"));
    if let Some(name) = unstorable {
        let error = ApiError::bad_field(&name, "contains U+0000 (NUL), which is not allowed");
        return Ok(req.into_response(actix_web::ResponseError::error_response(&error)));
    }
    Ok(next.call(req).await?.map_into_boxed_body())
}

/// Safety net: any error response that is not already problem+json (one produced by the
/// framework itself) is rewritten as one, so clients see a single error format.
pub async fn problem_for_every_error(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let response = next.call(req).await?;
    let status = response.status();
    let is_problem = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with(PROBLEM_JSON));
    if !(status.is_client_error() || status.is_server_error()) || is_problem {
        return Ok(response.map_into_boxed_body());
    }
    let (request, old) = response.into_parts();
    let code = error::default_code(status);
    let detail = match status {
        StatusCode::INTERNAL_SERVER_ERROR => "An unexpected error occurred.".to_owned(),
        _ => status.canonical_reason().unwrap_or("Error").to_owned(),
    };
    let mut rebuilt = HttpResponse::build(status);
    for (name, value) in old.headers() {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            rebuilt.append_header((name.clone(), value.clone()));
        }
    }
    let body =
        rebuilt
            .content_type(PROBLEM_JSON)
            .json(error::problem(status, code, detail, Vec::new()));
    Ok(ServiceResponse::new(request, body))
}
