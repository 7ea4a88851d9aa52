//! Database access: the pool (with timeouts, so a dead database answers 503 instead of hanging),
//! embedded migrations, and finding/creating the database to use.

pub mod enums;
pub mod local_cluster;
pub mod replicas;
pub mod schema;
pub mod statement;
pub mod statistics;

use std::time::Duration;

use anyhow::Context as _;
use diesel::connection::SimpleConnection as _;
use diesel_async::async_connection_wrapper::AsyncConnectionWrapper;
use diesel_async::pooled_connection::{
    AsyncDieselConnectionManager, ManagerConfig, RecyclingMethod,
};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

use crate::config::PoolSettings;

pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations");

/// The default when `DATABASE_URL` is unset.
pub const DEFAULT_DATABASE_URL: &str = "postgres://postgres@127.0.0.1:5432/internal_store";

pub type DbPool = diesel_async::pooled_connection::deadpool::Pool<AsyncPgConnection>;
pub type PoolError = diesel_async::pooled_connection::deadpool::PoolError;
pub type PooledConn = diesel_async::pooled_connection::deadpool::Object<AsyncPgConnection>;

/// Serialises concurrent migration runs (several instances starting at once).
const MIGRATION_LOCK_KEY: i64 = 0x1A7E_570E;

pub fn build_pool(url: &str, settings: &PoolSettings) -> anyhow::Result<DbPool> {
    // `Fast` recycling: a returned connection is checked for being broken or inside a
    // transaction, without a round trip. `Verified` would add a `SELECT 1` to every checkout;
    // broken connections (a restarted server) are still detected and replaced.
    let mut config = ManagerConfig::default();
    config.recycling_method = RecyclingMethod::Fast;
    let manager = AsyncDieselConnectionManager::<AsyncPgConnection>::new_with_config(
        with_session_options(url, settings.statement_timeout)?,
        config,
    );
    let max_lifetime = settings.max_lifetime;
    DbPool::builder(manager)
        .max_size(settings.max_size)
        // Connections are renewed after `DB_POOL_MAX_LIFETIME_SECS`: among other things, their
        // generic plans (see `with_session_options`) are then made with current table statistics.
        .pre_recycle(deadpool::managed::Hook::sync_fn(move |_, metrics| {
            if metrics.age() > max_lifetime {
                Err(deadpool::managed::HookError::message(
                    "the connection reached DB_POOL_MAX_LIFETIME_SECS",
                ))
            } else {
                Ok(())
            }
        }))
        .wait_timeout(Some(settings.wait_timeout))
        .create_timeout(Some(settings.create_timeout))
        .recycle_timeout(Some(settings.recycle_timeout))
        .runtime(deadpool::Runtime::Tokio1)
        .build()
        .context("building the database pool")
}

/// Adds `statement_timeout`, `lock_timeout` and `plan_cache_mode` to the connection's startup
/// options, keeping any options the URL already has.
fn with_session_options(url: &str, limit: Duration) -> anyhow::Result<String> {
    let mut parsed = url::Url::parse(url).context("DATABASE_URL is not a valid URL")?;
    let millis = limit.as_millis();
    // Generic plans: the server's statements have fixed shapes, and PostgreSQL's default
    // re-plans any statement whose parameters it cannot cost (arrays, LIMIT) on every call,
    // which took longer than running them. Searches opt back into custom plans.
    let mut options = format!(
        "-c statement_timeout={millis} -c lock_timeout={millis} -c plan_cache_mode=force_generic_plan"
    );
    let mut others = Vec::new();
    for (key, value) in parsed.query_pairs() {
        if key == "options" {
            options = format!("{value} {options}");
        } else {
            others.push((key.into_owned(), value.into_owned()));
        }
    }
    parsed
        .query_pairs_mut()
        .clear()
        .extend_pairs(others)
        .append_pair("options", &options);
    // Form encoding writes spaces as `+`, which PostgreSQL URL parsing does not decode; a literal
    // `+` was written as `%2B`, so every `+` left is a space.
    let query = parsed.query().map(|q| q.replace('+', "%20"));
    parsed.set_query(query.as_deref());
    Ok(parsed.to_string())
}

/// Applies pending migrations, holding an advisory lock so that concurrent starters take turns.
pub async fn migrate(url: &str) -> anyhow::Result<Vec<String>> {
    let url = url.to_owned();
    tokio::task::spawn_blocking(move || -> anyhow::Result<Vec<String>> {
        let mut conn =
            <AsyncConnectionWrapper<AsyncPgConnection> as diesel::Connection>::establish(&url)
                .context("connecting to run migrations")?;
        conn.batch_execute(&format!("SELECT pg_advisory_lock({MIGRATION_LOCK_KEY})"))?;
        let applied = conn
            .run_pending_migrations(MIGRATIONS)
            .map(|versions| versions.iter().map(ToString::to_string).collect())
            .map_err(|e| anyhow::anyhow!("running migrations: {e}"));
        conn.batch_execute(&format!("SELECT pg_advisory_unlock({MIGRATION_LOCK_KEY})"))?;
        applied
    })
    .await
    .context("migration task panicked")?
}

/// Where the service's data lives, and how it was found.
#[derive(Debug, Clone)]
pub struct Located {
    pub url: String,
    pub origin: &'static str,
}

/// Resolves the database to use: `DATABASE_URL` if set; otherwise the local default server;
/// otherwise a private cluster under `./.data/postgres` when PostgreSQL's binaries exist.
/// The database itself is created when missing.
pub async fn locate(configured: Option<&str>) -> anyhow::Result<Located> {
    if let Some(url) = configured {
        ensure_database(url)
            .await
            .with_context(|| format!("preparing the database at {}", redact(url)))?;
        return Ok(Located {
            url: url.to_owned(),
            origin: "DATABASE_URL",
        });
    }
    // The default address can be moved (tests use this to simulate "nothing answers there").
    let default_url = std::env::var("INTERNAL_STORE_DEFAULT_DATABASE_URL")
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| DEFAULT_DATABASE_URL.to_owned());
    match ensure_database(&default_url).await {
        Ok(()) => Ok(Located {
            url: default_url,
            origin: "the local default PostgreSQL",
        }),
        Err(default_error) => {
            tracing::info!(default = %redact(&default_url), error = format!("{default_error:#}"), "no usable PostgreSQL at the default address; trying a private cluster");
            let cluster = local_cluster::start_or_reuse().await.map_err(|cluster_error| {
                anyhow::anyhow!(
                    "No database: set DATABASE_URL, start PostgreSQL on 127.0.0.1:5432 (user postgres, trust auth), \
                     or install PostgreSQL's server binaries (initdb, pg_ctl) so a private cluster can be started \
                     [default server: {default_error:#}; private cluster: {cluster_error:#}]"
                )
            })?;
            ensure_database(&cluster.url).await?;
            tracing::info!(data_dir = %cluster.data_dir.display(), port = cluster.port, "using the private PostgreSQL cluster");
            Ok(Located {
                url: cluster.url,
                origin: "the private cluster under ./.data/postgres",
            })
        }
    }
}

/// Connects to `url`, creating its database through the server's `postgres` database if missing.
pub async fn ensure_database(url: &str) -> anyhow::Result<()> {
    if connect(url).await.is_ok() {
        return Ok(());
    }
    let parsed = url::Url::parse(url).context("DATABASE_URL is not a valid URL")?;
    let name = parsed.path().trim_start_matches('/').to_owned();
    anyhow::ensure!(!name.is_empty(), "DATABASE_URL names no database");
    let mut admin_url = parsed.clone();
    admin_url.set_path("/postgres");
    let mut admin = connect(admin_url.as_str()).await?;
    let created = diesel::sql_query(format!("CREATE DATABASE {}", quote_ident(&name)))
        .execute(&mut admin)
        .await;
    match created {
        Ok(_) => tracing::info!(database = %name, "created database"),
        // Another starter created it first.
        Err(e) if e.to_string().contains("already exists") => {}
        Err(e) => return Err(e).context("creating the database"),
    }
    connect(url).await.map(drop)
}

/// Establishes one connection, failing within a bounded time.
pub async fn connect(url: &str) -> anyhow::Result<AsyncPgConnection> {
    tokio::time::timeout(Duration::from_secs(5), AsyncPgConnection::establish(url))
        .await
        .context("timed out connecting to PostgreSQL")?
        .context("connecting to PostgreSQL")
}

pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// The URL without its password, for logs.
pub fn redact(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("***"));
            parsed.to_string()
        }
        Ok(parsed) => parsed.to_string(),
        Err(_) => "<unparseable url>".into(),
    }
}

/// Cheap liveness probe of the database through the pool, bounded in time.
pub async fn ping(pool: &DbPool, within: Duration) -> bool {
    let probe = async {
        // A pooled connection may be one the database dropped (restart, failover) before its
        // driver noticed; that says nothing about the database now, so a fresh one gets a try.
        for _ in 0..2 {
            let mut conn = pool.get().await.ok()?;
            if diesel::sql_query("SELECT 1")
                .execute(&mut conn)
                .await
                .is_ok()
            {
                return Some(());
            }
            drop(deadpool::managed::Object::take(conn));
        }
        None
    };
    matches!(tokio::time::timeout(within, probe).await, Ok(Some(_)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_are_quoted() {
        assert_eq!(quote_ident(r#"a"b"#), r#""a""b""#);
    }

    #[test]
    fn timeouts_and_plan_mode_are_added_to_the_startup_options() {
        let url = with_session_options(
            "postgres://u@h/db?sslmode=disable&options=-c%20search_path%3Dx",
            Duration::from_secs(3),
        )
        .unwrap_or_default();
        assert!(!url.contains('+'), "{url}");
        let parsed = url::Url::parse(&url).unwrap_or_else(|_| unreachable!());
        let pairs: std::collections::HashMap<_, _> = parsed.query_pairs().into_owned().collect();
        assert_eq!(pairs.get("sslmode").map(String::as_str), Some("disable"));
        assert_eq!(
            pairs.get("options").map(String::as_str),
            Some("-c search_path=x -c statement_timeout=3000 -c lock_timeout=3000 -c plan_cache_mode=force_generic_plan")
        );
    }

    #[test]
    fn passwords_are_redacted() {
        assert!(!redact("postgres://u:hunter2@h/db").contains("hunter2"));
    }
}

/// SQL functions used by queries.
pub mod functions {
    #[diesel::declare_sql_function]
    extern "SQL" {
        /// PostgreSQL's `lower(text)`.
        fn lower(value: diesel::sql_types::Text) -> diesel::sql_types::Text;
    }
}
