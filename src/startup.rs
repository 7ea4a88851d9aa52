//! Assembles the HTTP application: shared state, routes, middleware, and the server itself.
//! `Application::build` binds before it runs, so tests can bind port 0 and read the port back.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{Server, ServiceRequest, ServiceResponse};
use actix_web::http::{header, Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::{web, App, HttpMessage, HttpRequest, HttpResponse, HttpServer};
use actix_web_prom::{PrometheusMetrics, PrometheusMetricsBuilder};
use anyhow::Context as _;
use tracing_actix_web::{RequestId, TracingLogger};
use utoipa_actix_web::service_config::ServiceConfig;
use utoipa_actix_web::{scope, AppExt};

use crate::catalog::cache::{ListingCache, Served};
use crate::clock::Clock;
use crate::config::Settings;
use crate::db::{self, DbPool};
use crate::error::{self, ApiError, PROBLEM_JSON};
use crate::http;
use crate::identity::{password::PasswordHasher, token::TokenKeys};

/// Everything a handler may need, shared by all workers.
pub struct AppState {
    pub pool: DbPool,
    pub settings: Arc<Settings>,
    pub tokens: TokenKeys,
    pub passwords: PasswordHasher,
    pub listing_cache: ListingCache,
    /// Business dates ("today") come from here.
    pub clock: Clock,
}

/// Every API route, registered through utoipa-actix-web so each one lands in the OpenAPI document.
pub fn api_routes(cfg: &mut ServiceConfig) {
    cfg.service(crate::health::live)
        .service(crate::health::ready);
    cfg.service(
        scope::scope("/api/v1")
            .configure(crate::identity::routes)
            .configure(crate::catalog::routes)
            .configure(crate::orders::routes)
            .configure(crate::fx::routes)
            .configure(crate::intercompany::routes)
            .configure(crate::finance::routes)
            .configure(crate::feedback::routes)
            .configure(crate::kpis::routes)
            .configure(crate::audit::routes),
    );
}

pub struct Application {
    port: u16,
    server: Server,
    pub pool: DbPool,
    /// The server's clock (tests move it to other days).
    pub clock: Clock,
}

impl Application {
    /// Finds (or creates) the database, migrates it, binds the listener and prepares the server.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        Self::build_with(settings, |_| {}).await
    }

    /// [`Application::build`] with `extra` routes registered next to the API's, behind the same
    /// middleware. Only tests use it (e.g. a route that panics, to check that a panic becomes
    /// a 500 problem); the service itself never adds any.
    pub async fn build_with(settings: Settings, extra: ExtraRoutes) -> anyhow::Result<Self> {
        let located = db::locate(settings.database_url.as_deref()).await?;
        tracing::info!(database = %db::redact(&located.url), origin = located.origin, "database located");
        let applied = db::migrate(&located.url).await?;
        if !applied.is_empty() {
            tracing::info!(?applied, "migrations applied");
        }
        let pool = db::build_pool(&located.url, &settings.pool)?;
        let listener = TcpListener::bind(&settings.bind)
            .with_context(|| format!("binding {} (BIND)", settings.bind))?;
        let port = listener.local_addr()?.port();
        crate::orders::idempotency::spawn_sweeper(pool.clone());
        db::statistics::spawn_keeper(pool.clone());
        let listing_cache = ListingCache::new(settings.listing_cache_ttl);
        listing_cache.spawn_listener(&located.url)?;
        let clock = Clock::system();
        let server = run(
            listener,
            pool.clone(),
            listing_cache,
            clock.clone(),
            settings,
            extra,
        )?;
        Ok(Self {
            port,
            server,
            pool,
            clock,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Serves until SIGINT/SIGTERM; in-flight requests get up to 30 s to finish.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await
    }
}

/// Routes added by [`Application::build_with`].
pub type ExtraRoutes = fn(&mut web::ServiceConfig);

fn run(
    listener: TcpListener,
    pool: DbPool,
    listing_cache: ListingCache,
    clock: Clock,
    settings: Settings,
    extra: ExtraRoutes,
) -> anyhow::Result<Server> {
    let settings = Arc::new(settings);
    let state = web::Data::new(AppState {
        pool: pool.clone(),
        tokens: TokenKeys::new(&settings.jwt),
        passwords: PasswordHasher::new(settings.password_hash_concurrency),
        settings: settings.clone(),
        listing_cache: listing_cache.clone(),
        clock,
    });
    let openapi = crate::openapi::document();
    let openapi_json = web::Data::new(OpenApiJson(
        serde_json::to_string(&openapi).context("serialising the OpenAPI document")?,
    ));
    let routes = web::Data::new(RouteTable::from_openapi(&crate::openapi::collected()));
    let metrics = metrics(&pool, &listing_cache)?;
    let body_limit = settings.body_limit;
    let metrics_token = settings.metrics_token.clone();
    let app_settings = settings.clone();

    let server = HttpServer::new(move || {
        let (app, _) = App::new()
            .into_utoipa_app()
            .app_data(state.clone())
            .app_data(openapi_json.clone())
            .app_data(routes.clone())
            .app_data(
                web::JsonConfig::default()
                    .limit(body_limit)
                    .error_handler(error::json_error),
            )
            .app_data(web::PathConfig::default().error_handler(error::path_error))
            .app_data(web::QueryConfig::default().error_handler(error::query_error))
            .app_data(web::PayloadConfig::default().limit(body_limit))
            .configure(api_routes)
            .split_for_parts();
        let metrics_token = metrics_token.clone();
        // Listed from the innermost out: a panic is caught next to the router, so every
        // layer above (problem format, request id, log, metrics, headers) sees a plain 500.
        app.service(web::resource("/api-docs/openapi.json").get(serve_openapi))
            .configure(crate::docs::routes)
            .configure(extra)
            .default_service(web::to(fallback))
            .wrap(actix_web::middleware::from_fn(http::catch_panics))
            .wrap(actix_web::middleware::from_fn(refuse_unstorable_query))
            .wrap(actix_web::middleware::from_fn(move |req, next| {
                limit_declared_body(req, next, body_limit)
            }))
            .wrap(http::cors(&app_settings))
            .wrap(actix_web::middleware::from_fn(problem_for_every_error))
            .wrap(actix_web::middleware::from_fn(request_id_header))
            .wrap(TracingLogger::<http::RequestSpan>::new())
            .wrap(metrics.clone())
            .wrap(actix_web::middleware::from_fn(http::bound_method))
            .wrap(actix_web::middleware::from_fn(move |req, next| {
                http::guard_metrics(req, next, metrics_token.clone())
            }))
            .wrap(actix_web::middleware::from_fn(http::security_headers))
    })
    .workers(settings.workers)
    .shutdown_timeout(30)
    .listen(listener)?
    .run();
    Ok(server)
}

struct OpenApiJson(String);

async fn serve_openapi(doc: web::Data<OpenApiJson>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(doc.0.clone())
}

/// Prometheus metrics: requests by route pattern and status, a latency histogram, pool usage.
fn metrics(pool: &DbPool, cache: &ListingCache) -> anyhow::Result<PrometheusMetrics> {
    let registry = prometheus::Registry::new();
    let pool_gauge = prometheus::IntGaugeVec::new(
        prometheus::Opts::new(
            "internal_store_db_pool_connections",
            "Database pool connections by state",
        ),
        &["state"],
    )?;
    registry.register(Box::new(pool_gauge.clone()))?;
    let pages = prometheus::IntCounterVec::new(
        prometheus::Opts::new(
            "internal_store_listing_pages_total",
            "Catalog listing pages by how they were served: hit, miss (built and cached), bypass",
        ),
        &["outcome"],
    )?;
    registry.register(Box::new(pages.clone()))?;
    let connected = prometheus::IntGauge::new(
        "internal_store_listing_cache_connected",
        "1 while the listing cache's listener is subscribed, else 0",
    )?;
    registry.register(Box::new(connected.clone()))?;
    let metrics = PrometheusMetricsBuilder::new("internal_store")
        .endpoint("/metrics")
        .registry(registry)
        .mask_unmatched_patterns("UNMATCHED")
        .buckets(&[
            0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
        ])
        .build()
        .map_err(|e| anyhow::anyhow!("building metrics: {e}"))?;
    let pool = pool.clone();
    let cache = cache.clone();
    // Sampling once a second keeps the scrape path free of work and is plenty for a gauge.
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            tick.tick().await;
            let status = pool.status();
            pool_gauge
                .with_label_values(&["max"])
                .set(status.max_size as i64);
            pool_gauge
                .with_label_values(&["open"])
                .set(status.size as i64);
            pool_gauge
                .with_label_values(&["idle"])
                .set(status.available as i64);
            pool_gauge
                .with_label_values(&["in_use"])
                .set(status.size.saturating_sub(status.available) as i64);
            pool_gauge
                .with_label_values(&["waiting"])
                .set(status.waiting as i64);
            for how in Served::ALL {
                let counter = pages.with_label_values(&[how.label()]);
                counter.inc_by(cache.served(how).saturating_sub(counter.get()));
            }
            connected.set(i64::from(cache.is_connected()));
        }
    });
    Ok(metrics)
}

/// Echoes the request id that tracing-actix-web put on the request span.
async fn request_id_header(
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
async fn limit_declared_body(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
    limit: usize,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|length| length > limit as u64) {
        let response =
            actix_web::ResponseError::error_response(&ApiError::PayloadTooLarge { limit });
        return Ok(req.into_response(response));
    }
    Ok(next.call(req).await?.map_into_boxed_body())
}

/// A query parameter holding U+0000 (`%00`) → 400 naming it, before any handler: no text
/// PostgreSQL cannot store reaches it (bodies get the same check in [`crate::body`]).
async fn refuse_unstorable_query(
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
async fn problem_for_every_error(
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

/// Known path templates and their methods, taken from the OpenAPI document, so the fallback
/// can tell "no such resource" (404) from "no such method here" (405).
pub struct RouteTable(Vec<(Vec<Segment>, Vec<Method>)>);

enum Segment {
    Literal(String),
    Parameter,
}

impl RouteTable {
    fn from_openapi(openapi: &utoipa::openapi::OpenApi) -> Self {
        let mut routes: Vec<(Vec<Segment>, Vec<Method>)> = openapi
            .paths
            .paths
            .iter()
            .map(|(template, item)| {
                let mut methods = Vec::new();
                for (present, method) in [
                    (item.get.is_some(), Method::GET),
                    (item.post.is_some(), Method::POST),
                    (item.put.is_some(), Method::PUT),
                    (item.patch.is_some(), Method::PATCH),
                    (item.delete.is_some(), Method::DELETE),
                ] {
                    if present {
                        methods.push(method);
                    }
                }
                (Self::segments(template), methods)
            })
            .collect();
        for fixed in [
            "/metrics",
            "/api-docs/openapi.json",
            "/docs",
            "/docs/{file}",
        ] {
            routes.push((Self::segments(fixed), vec![Method::GET]));
        }
        Self(routes)
    }

    fn segments(template: &str) -> Vec<Segment> {
        template
            .trim_matches('/')
            .split('/')
            .map(|part| {
                if part.starts_with('{') && part.ends_with('}') {
                    Segment::Parameter
                } else {
                    Segment::Literal(part.to_owned())
                }
            })
            .collect()
    }

    /// The methods of the route `path` names, exactly as the router matches it: no trailing
    /// or doubled slash (those are 404), and a literal segment wins over a parameter, so
    /// `/orders/quote` is the quote route (POST) and not `/orders/{id}` (GET).
    pub fn allowed_methods(&self, path: &str) -> Vec<Method> {
        let Some(rest) = path.strip_prefix('/') else {
            return Vec::new();
        };
        let parts: Vec<&str> = rest.split('/').collect();
        if parts.iter().any(|part| part.is_empty()) {
            return Vec::new();
        }
        let mut best: Option<(Vec<bool>, Vec<Method>)> = None;
        for (segments, methods) in &self.0 {
            let matches = segments.len() == parts.len()
                && segments
                    .iter()
                    .zip(&parts)
                    .all(|(segment, part)| match segment {
                        Segment::Parameter => true,
                        Segment::Literal(literal) => literal == part,
                    });
            if !matches {
                continue;
            }
            // Literal segments, left to right: the more specific route compares greater.
            let shape: Vec<bool> = segments
                .iter()
                .map(|s| matches!(s, Segment::Literal(_)))
                .collect();
            match &mut best {
                Some((best_shape, best_methods)) if *best_shape == shape => {
                    best_methods.extend(methods.iter().cloned());
                }
                Some((best_shape, _)) if *best_shape > shape => {}
                _ => best = Some((shape, methods.clone())),
            }
        }
        best.map(|(_, methods)| methods).unwrap_or_default()
    }
}

/// Requests no route took: 404 for an unknown path, `OPTIONS` → 204 with `Allow`, any other
/// method → 405 with `Allow` (exactly the route's methods).
async fn fallback(
    req: HttpRequest,
    routes: web::Data<RouteTable>,
) -> Result<HttpResponse, ApiError> {
    let allowed = routes.allowed_methods(req.path());
    if allowed.is_empty() {
        return Err(ApiError::NotFound);
    }
    if req.method() == Method::OPTIONS {
        return Ok(HttpResponse::NoContent()
            .insert_header(header::Allow(allowed))
            .finish());
    }
    Err(ApiError::MethodNotAllowed { allowed })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> RouteTable {
        RouteTable::from_openapi(&crate::openapi::collected())
    }

    #[test]
    fn allow_lists_exactly_the_route_methods() {
        let routes = table();
        assert_eq!(
            routes.allowed_methods("/api/v1/orders/quote"),
            vec![Method::POST]
        );
        assert_eq!(
            routes.allowed_methods("/api/v1/orders/0b8f4d1e-0000-4000-8000-000000000000"),
            vec![Method::GET]
        );
        assert_eq!(routes.allowed_methods("/api/v1/me"), vec![Method::GET]);
        for odd in [
            "/api/v1/me/",
            "/api//v1/me",
            "//api/v1/me",
            "/api/v1/orders//cancel",
            "",
        ] {
            assert!(routes.allowed_methods(odd).is_empty(), "{odd}");
        }
    }
}
