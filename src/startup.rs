//! Assembles the HTTP application: shared state, routes, middleware, and the server itself.
//! `Application::build` binds before it runs, so tests can bind port 0 and read the port back.

use std::net::TcpListener;
use std::sync::Arc;

use actix_web::dev::Server;
use actix_web::{web, App, HttpResponse, HttpServer};
use anyhow::Context as _;
use tracing_actix_web::TracingLogger;
use utoipa_actix_web::AppExt;

use crate::catalog::cache::ListingCache;
use crate::changes::Changes;
use crate::clock::Clock;
use crate::config::Settings;
use crate::db::replicas::Reads;
use crate::db::{self, DbPool};
use crate::error;
use crate::http;
use crate::identity::{password::PasswordHasher, token::TokenKeys, Keys};
use crate::state::AppState;

pub struct Application {
    address: std::net::SocketAddr,
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
        let mut replicas = Vec::new();
        for (index, url) in settings.read_urls.iter().enumerate() {
            let label = format!("replica-{}", index + 1);
            tracing::info!(replica = %label, database = %db::redact(url), "reads may go to a replica");
            replicas.push((label, db::build_pool(url, &settings.pool)?));
        }
        let reads = Reads::new(pool.clone(), replicas, settings.read_max_lag);
        reads.spawn_watch(settings.read_check_interval);
        let listener = TcpListener::bind(&settings.bind)
            .with_context(|| format!("binding {} (BIND)", settings.bind))?;
        let address = listener.local_addr()?;
        let port = address.port();
        crate::idempotency::spawn_sweeper(pool.clone());
        db::statistics::spawn_keeper(pool.clone());
        let listing_cache = ListingCache::new(settings.listing_cache_ttl);
        listing_cache.spawn_listener(&located.url)?;
        let clock = Clock::system();
        let server = run(
            listener,
            (pool.clone(), reads),
            listing_cache,
            clock.clone(),
            settings,
            extra,
        )?;
        Ok(Self {
            address,
            port,
            server,
            pool,
            clock,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The address the server listens on (host and port).
    pub fn address(&self) -> std::net::SocketAddr {
        self.address
    }

    /// Serves until SIGINT/SIGTERM; in-flight requests get up to 30 s to finish (actix logs the
    /// signal and the drain; the end is logged here).
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await?;
        tracing::info!("stopped: every in-flight request was answered");
        Ok(())
    }
}

/// Routes added by [`Application::build_with`].
pub type ExtraRoutes = fn(&mut web::ServiceConfig);

fn run(
    listener: TcpListener,
    (pool, reads): (DbPool, Reads),
    listing_cache: ListingCache,
    clock: Clock,
    settings: Settings,
    extra: ExtraRoutes,
) -> anyhow::Result<Server> {
    let settings = Arc::new(settings);
    let metrics = crate::metrics::build(&pool, &reads, &listing_cache)?;
    let state = web::Data::new(AppState {
        pool: pool.clone(),
        reads,
        settings: settings.clone(),
        changes: Changes::new(vec![Arc::new(listing_cache.clone())]),
        clock,
    });
    let listing_cache_data = web::Data::new(listing_cache.clone());
    let keys = web::Data::new(Keys {
        tokens: TokenKeys::new(&settings.jwt),
        passwords: PasswordHasher::new(settings.password_hash_concurrency),
    });
    let openapi = crate::openapi::document();
    let openapi_json = web::Data::new(OpenApiJson(
        serde_json::to_string(&openapi).context("serialising the OpenAPI document")?,
    ));
    let routes = web::Data::new(crate::routing::RouteTable::from_openapi(
        &crate::openapi::collected(),
    ));
    let body_limit = settings.body_limit;
    let metrics_token = settings.metrics_token.clone();
    let app_settings = settings.clone();

    let server = HttpServer::new(move || {
        let (app, _) = App::new()
            .into_utoipa_app()
            .app_data(state.clone())
            .app_data(listing_cache_data.clone())
            .app_data(keys.clone())
            .app_data(openapi_json.clone())
            .app_data(routes.clone())
            .app_data(
                web::JsonConfig::default()
                    .limit(body_limit)
                    .error_handler(error::json_error),
            )
            .app_data(web::PathConfig::default().error_handler(crate::routing::path_error))
            .app_data(web::QueryConfig::default().error_handler(error::query_error))
            .app_data(web::PayloadConfig::default().limit(body_limit))
            .configure(crate::routes::api_routes)
            .split_for_parts();
        let metrics_token = metrics_token.clone();
        // Listed from the innermost out: a panic is caught next to the router, so every
        // layer above (problem format, request id, log, metrics, headers) sees a plain 500.
        // `/metrics` is answered by the metrics middleware, which rewrites whatever the app
        // answered; a real route keeps that answer a plain 200 (no 405, no `Allow`, no warning).
        app.service(web::resource("/metrics").get(HttpResponse::Ok))
            .service(web::resource("/api-docs/openapi.json").get(serve_openapi))
            .configure(crate::docs::routes)
            .configure(extra)
            .default_service(web::to(crate::routing::fallback))
            .wrap(actix_web::middleware::from_fn(http::catch_panics))
            .wrap(actix_web::middleware::from_fn(
                crate::middleware::refuse_unstorable_query,
            ))
            .wrap(actix_web::middleware::from_fn(move |req, next| {
                crate::middleware::limit_declared_body(req, next, body_limit)
            }))
            .wrap(http::cors(&app_settings))
            .wrap(actix_web::middleware::from_fn(
                crate::middleware::problem_for_every_error,
            ))
            .wrap(actix_web::middleware::from_fn(
                crate::middleware::request_id_header,
            ))
            .wrap(actix_web::middleware::from_fn(http::access_log))
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
