//! HTTP-level protections shared by every route (§2): the client address (peer, or
//! `X-Forwarded-For` only from a trusted proxy), the request span that logs it, security
//! headers, CORS, bounded metric labels with an optional `METRICS_TOKEN`, and the net that
//! turns a panic into a 500 problem instead of a dropped connection.

use std::net::IpAddr;
use std::panic::AssertUnwindSafe;

use actix_cors::Cors;
use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::{header, Method};
use actix_web::middleware::Next;
use actix_web::{web, HttpMessage as _, HttpRequest, ResponseError as _};
use futures_util::FutureExt as _;
use ipnet::IpNet;
use sha2::{Digest as _, Sha256};
use tracing::Span;
use tracing_actix_web::{DefaultRootSpanBuilder, RequestId, RootSpanBuilder};

use crate::config::{MetricsToken, Settings};
use crate::error::ApiError;

/// The client's address: the peer's, or — only when the peer is a trusted proxy — the
/// right-most `X-Forwarded-For` entry that is not itself a trusted proxy. Entries a client
/// wrote (left of the first proxy's) are never believed.
pub fn client_ip(req: &HttpRequest) -> Option<IpAddr> {
    let trusted = req
        .app_data::<web::Data<crate::state::AppState>>()
        .map(|state| state.settings.trusted_proxies.as_slice())
        .unwrap_or_default();
    let peer = req.peer_addr().map(|addr| addr.ip());
    let forwarded = req
        .headers()
        .get_all("x-forwarded-for")
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(str::trim)
        .collect::<Vec<_>>();
    resolve(trusted, peer, &forwarded)
}

/// [`client_ip`] over plain values.
pub fn resolve(trusted: &[IpNet], peer: Option<IpAddr>, forwarded: &[&str]) -> Option<IpAddr> {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    let mut client = peer?;
    if !is_trusted(&client) {
        return Some(client);
    }
    for entry in forwarded.iter().rev() {
        let Some(ip) = parse_forwarded(entry) else {
            break;
        };
        client = ip;
        if !is_trusted(&ip) {
            break;
        }
    }
    Some(client)
}

/// One `X-Forwarded-For` entry: an address, optionally with a port (`[::1]:80`, `1.2.3.4:80`).
fn parse_forwarded(entry: &str) -> Option<IpAddr> {
    entry
        .parse::<IpAddr>()
        .ok()
        .or_else(|| entry.parse::<std::net::SocketAddr>().ok().map(|a| a.ip()))
}

/// The request span: like tracing-actix-web's default, but the client address is
/// [`client_ip`] (the default believes any caller's `X-Forwarded-For`).
pub struct RequestSpan;

impl RootSpanBuilder for RequestSpan {
    fn on_request_start(request: &ServiceRequest) -> Span {
        let client = client_ip(request.request())
            .map(|ip| ip.to_string())
            .unwrap_or_else(|| "unknown".into());
        let request_id = request
            .extensions()
            .get::<RequestId>()
            .map(ToString::to_string)
            .unwrap_or_default();
        let route = request.match_pattern().unwrap_or_default();
        tracing::info_span!(
            "HTTP request",
            http.method = %request.method(),
            http.route = %route,
            http.target = %request.uri().path(),
            http.client_ip = %client,
            request_id = %request_id,
            http.status_code = tracing::field::Empty,
            otel.status_code = tracing::field::Empty,
            exception.message = tracing::field::Empty,
            exception.details = tracing::field::Empty,
        )
    }

    fn on_request_end<B: MessageBody>(
        span: Span,
        outcome: &Result<ServiceResponse<B>, actix_web::Error>,
    ) {
        // The status and the error's details on the span (the access line is
        // [`access_log`]'s).
        DefaultRootSpanBuilder::on_request_end(span, outcome);
    }
}

/// One access line per request at `info`: method, route (the template, never an id or a query),
/// status, latency and request id. Nothing else of the request is logged: no header (so never a
/// token), no body.
pub async fn access_log(
    req: ServiceRequest,
    next: actix_web::middleware::Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    // At a level above info (the benchmarks run at warn) the line costs nothing.
    if !tracing::enabled!(tracing::Level::INFO) {
        return next.call(req).await;
    }
    let started = std::time::Instant::now();
    let method = req.method().clone();
    let request_id = req
        .extensions()
        .get::<RequestId>()
        .map(ToString::to_string)
        .unwrap_or_default();
    let outcome = next.call(req).await;
    let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
    let (status, route) = match &outcome {
        Ok(response) => (
            response.status().as_u16(),
            response
                .request()
                .match_pattern()
                .unwrap_or_else(|| "unmatched".to_owned()),
        ),
        Err(error) => (
            error.as_response_error().status_code().as_u16(),
            "unmatched".to_owned(),
        ),
    };
    tracing::info!(
        http.method = %method,
        http.route = %route,
        http.status_code = status,
        latency_ms = format!("{latency_ms:.2}"),
        request_id = %request_id,
        "request finished"
    );
    outcome
}

/// A panic anywhere below (extractor, handler) becomes a logged 500 problem; the client gets
/// an answer and the connection stays usable.
///
/// The request itself cannot be kept for the answer: the router needs it unshared while it
/// matches, and after a panic it is gone with the handler's future. The 500 therefore goes out
/// on a stand-in request with the same method and path (what the layers above read from it).
pub async fn catch_panics(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let method = req.method().clone();
    let uri = req.uri().clone();
    let called = AssertUnwindSafe(async move { next.call(req).await });
    match called.catch_unwind().await {
        Ok(result) => result.map(ServiceResponse::map_into_boxed_body),
        Err(panic) => {
            let message = panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "non-string panic payload".into());
            let error = ApiError::internal(format!("panic: {message}"));
            let stand_in = actix_web::test::TestRequest::default()
                .method(method)
                .uri(&uri.to_string())
                .to_http_request();
            Ok(ServiceResponse::new(stand_in, error.error_response()))
        }
    }
}

/// `X-Content-Type-Options: nosniff` on every response; `Cache-Control: no-store` on the
/// token response and on every response to a request that carried credentials.
pub async fn security_headers(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let personal =
        req.headers().contains_key(header::AUTHORIZATION) || req.path() == "/api/v1/auth/login";
    let mut response = next.call(req).await?.map_into_boxed_body();
    let headers = response.headers_mut();
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        header::HeaderValue::from_static("nosniff"),
    );
    if personal {
        headers.insert(
            header::CACHE_CONTROL,
            header::HeaderValue::from_static("no-store"),
        );
    }
    Ok(response)
}

/// The methods the metrics keep as they are; any other (`FOO`, `PROPFIND`, …) is counted as
/// `OTHER`, so label values stay bounded whatever clients send. No route has those methods,
/// so the answer (405 or 404) is the same either way.
const KNOWN_METHODS: [Method; 9] = [
    Method::GET,
    Method::HEAD,
    Method::POST,
    Method::PUT,
    Method::PATCH,
    Method::DELETE,
    Method::OPTIONS,
    Method::TRACE,
    Method::CONNECT,
];

pub async fn bound_method(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    if !KNOWN_METHODS.contains(req.method()) {
        if let Ok(other) = Method::from_bytes(b"OTHER") {
            req.head_mut().method = other;
        }
    }
    next.call(req).await
}

/// `/metrics` answers 401 unless the request carries `METRICS_TOKEN` as a bearer token (when
/// one is configured).
pub async fn guard_metrics(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
    token: Option<MetricsToken>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    if let (Some(expected), "/metrics") = (&token, req.path()) {
        let given = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token.trim());
        // Comparing digests keeps the comparison's time independent of the token's prefix.
        let matches = given.is_some_and(|given| {
            Sha256::digest(given.as_bytes()) == Sha256::digest(expected.0.as_bytes())
        });
        if !matches {
            return Ok(req.into_response(ApiError::Unauthorized.error_response()));
        }
    }
    Ok(next.call(req).await?.map_into_boxed_body())
}

/// CORS for the configured origins only: preflights for the API's methods with
/// `Authorization`, `Content-Type` and `Idempotency-Key`; other origins get no CORS headers
/// (their browsers refuse the response) and their preflights a 400 problem.
pub fn cors(settings: &Settings) -> Cors {
    let mut cors = Cors::default()
        .allowed_methods([
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
        ])
        .allowed_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            header::HeaderName::from_static("idempotency-key"),
        ])
        .expose_headers([
            header::HeaderName::from_static("x-request-id"),
            header::HeaderName::from_static("idempotency-replay"),
            header::RETRY_AFTER,
            header::LOCATION,
        ])
        .max_age(600)
        .block_on_origin_mismatch(false);
    for origin in &settings.cors_allowed_origins {
        cors = cors.allowed_origin(origin);
    }
    cors
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap_or_else(|_| unreachable!())
    }

    fn nets(list: &[&str]) -> Vec<IpNet> {
        list.iter()
            .map(|n| n.parse().unwrap_or_else(|_| unreachable!()))
            .collect()
    }

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_proxies() {
        let peer = Some(ip("10.0.0.5"));
        // Untrusted peer: its header is ignored.
        assert_eq!(resolve(&[], peer, &["203.0.113.9"]), peer);
        // Trusted peer: the right-most untrusted entry; what the client prepended is ignored.
        let trusted = nets(&["10.0.0.0/8"]);
        assert_eq!(
            resolve(&trusted, peer, &["6.6.6.6", "203.0.113.9", "10.0.0.7"]),
            Some(ip("203.0.113.9"))
        );
        // A malformed entry stops the walk at the last good address.
        assert_eq!(resolve(&trusted, peer, &["203.0.113.9", "garbage"]), peer);
        assert_eq!(
            resolve(&trusted, peer, &["[2001:db8::1]:443"]),
            Some(ip("2001:db8::1"))
        );
        // No header: the proxy itself.
        assert_eq!(resolve(&trusted, peer, &[]), peer);
    }
}
