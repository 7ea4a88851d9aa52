//! Test harness: every test gets its own database cloned from a migrated template, and the
//! real application on port 0 in front of it. Actors and builders (`actors.rs`) read like the
//! API they call and read its answers into the crate's own DTOs.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};

use diesel_async::{AsyncPgConnection, RunQueryDsl};
use internal_store::config::Settings;
use internal_store::db::{self, DbPool};
use internal_store::startup::Application;
use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use tokio::sync::OnceCell;

pub mod actors;
pub mod race;
pub mod trade;

pub use actors::{Actor, Api, Bearer, Group, HasId};
pub use race::{job, race, Job, Race};

pub const JWT_SECRET: &str = "test-secret-test-secret-test-secret-0123456789";
pub const ADMIN_EMAIL: &str = "admin@jkl.example";
pub const ADMIN_PASSWORD: &str = "admin-password-123";

static TEMPLATE: OnceCell<(String, String)> = OnceCell::const_new();
static COUNTER: AtomicU32 = AtomicU32::new(0);

/// The server URL (without database) and the template database name.
async fn template() -> &'static (String, String) {
    TEMPLATE
        .get_or_init(|| async {
            let located = db::locate(std::env::var("DATABASE_URL").ok().as_deref())
                .await
                .expect("a PostgreSQL server for the tests");
            let mut server = url::Url::parse(&located.url).unwrap();
            server.set_path("/postgres");
            let server = server.to_string();
            let mut admin = db::connect(&server).await.unwrap();
            // One template per migration set, so a changed migration gets a fresh template.
            let mut hasher = Sha256::new();
            for dir in migration_dirs() {
                hasher.update(dir.to_string_lossy().as_bytes());
                hasher.update(std::fs::read(dir.join("up.sql")).unwrap_or_default());
            }
            let digest = format!("{:x}", hasher.finalize());
            // Templates are per checkout: two checkouts testing at once (worktrees) never drop
            // each other's template.
            let checkout = format!(
                "{:x}",
                Sha256::digest(env!("CARGO_MANIFEST_DIR").as_bytes())
            );
            let prefix = format!("is_tpl_{}", &checkout[..8]);
            let name = format!("{prefix}_{}", &digest[..16]);
            execute(&mut admin, "SELECT pg_advisory_lock(77120001)").await;
            drop_orphans(&mut admin).await;
            let exists: Vec<Named> = diesel::sql_query(format!(
                "SELECT datname AS name FROM pg_database WHERE datname = '{name}'"
            ))
            .load(&mut admin)
            .await
            .unwrap();
            if exists.is_empty() {
                let building = format!("{name}_building");
                let _ =
                    diesel::sql_query(format!("DROP DATABASE IF EXISTS {building} WITH (FORCE)"))
                        .execute(&mut admin)
                        .await;
                execute(&mut admin, &format!("CREATE DATABASE {building}")).await;
                db::migrate(&with_database(&server, &building))
                    .await
                    .unwrap();
                execute(
                    &mut admin,
                    &format!("ALTER DATABASE {building} RENAME TO {name}"),
                )
                .await;
            }
            // Templates of older migration sets are dropped (unless something still uses them).
            let stale: Vec<Named> = diesel::sql_query(format!(
                "SELECT datname AS name FROM pg_database WHERE datname LIKE '{prefix}\\_%' AND datname <> '{name}' AND datname NOT LIKE '%\\_building'"
            ))
            .load(&mut admin)
            .await
            .unwrap_or_default();
            for old in stale {
                let _ = diesel::sql_query(format!("DROP DATABASE IF EXISTS {}", old.name))
                    .execute(&mut admin)
                    .await;
            }
            execute(&mut admin, "SELECT pg_advisory_unlock(77120001)").await;
            (server, name)
        })
        .await
}

/// The migration folders, in the order they apply.
pub fn migration_dirs() -> Vec<std::path::PathBuf> {
    let mut entries: Vec<_> = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("up.sql").exists())
        .collect();
    entries.sort();
    entries
}

async fn execute(conn: &mut AsyncPgConnection, sql: &str) {
    diesel::sql_query(sql).execute(conn).await.unwrap();
}

#[derive(diesel::QueryableByName)]
struct Named {
    #[diesel(sql_type = diesel::sql_types::Text)]
    name: String,
}

/// Drops test databases left behind by processes that no longer exist (a crashed run).
async fn drop_orphans(admin: &mut AsyncPgConnection) {
    let rows: Vec<Named> =
        diesel::sql_query("SELECT datname AS name FROM pg_database WHERE datname LIKE 'is_test_%'")
            .load(admin)
            .await
            .unwrap_or_default();
    for row in rows {
        let pid = row.name.split('_').nth(2).unwrap_or("");
        if !std::path::Path::new(&format!("/proc/{pid}")).exists() {
            let _ = diesel::sql_query(format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", row.name))
                .execute(admin)
                .await;
        }
    }
}

fn with_database(server: &str, name: &str) -> String {
    let mut url = url::Url::parse(server).unwrap();
    url.set_path(&format!("/{name}"));
    url.to_string()
}

/// A fresh database, dropped with the value: a clone of the migrated template, or empty.
pub struct TestDatabase {
    pub name: String,
    pub url: String,
    server: String,
}

impl TestDatabase {
    pub async fn create() -> Self {
        let (_, template) = template().await;
        Self::create_from(&format!("TEMPLATE {template}")).await
    }

    /// A database with no migration applied (`template0`).
    pub async fn empty() -> Self {
        Self::create_from("TEMPLATE template0").await
    }

    async fn create_from(clause: &str) -> Self {
        let (server, _) = template().await;
        let name = format!(
            "is_test_{}_{}_{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::SeqCst),
            rand_suffix()
        );
        let mut admin = db::connect(server).await.unwrap();
        execute(&mut admin, &format!("CREATE DATABASE {name} {clause}")).await;
        Self {
            url: with_database(server, &name),
            name,
            server: server.clone(),
        }
    }

    pub async fn connect(&self) -> AsyncPgConnection {
        db::connect(&self.url).await.unwrap()
    }
}

fn rand_suffix() -> u32 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0)
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let server = self.server.clone();
        let name = self.name.clone();
        // Drop runs inside the test's runtime; do the async work on a thread of its own.
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                if let Ok(mut admin) = db::connect(&server).await {
                    let _ =
                        diesel::sql_query(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                            .execute(&mut admin)
                            .await;
                }
            });
        })
        .join();
    }
}

pub struct TestApp {
    /// The server's clock: `app.clock.set_today(day)` puts the service on another day.
    pub clock: internal_store::clock::Clock,
    pub address: String,
    pub client: reqwest::Client,
    pub pool: DbPool,
    pub settings: Settings,
    pub db: std::sync::Arc<TestDatabase>,
}

/// A response, decoded.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Reply {
    pub fn content_type(&self) -> &str {
        self.headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    /// Asserts a problem+json error with this status and code.
    pub fn assert_problem(&self, status: u16, code: &str) {
        assert_eq!(
            self.status.as_u16(),
            status,
            "unexpected status; body: {}",
            self.body
        );
        assert_eq!(
            self.content_type(),
            "application/problem+json",
            "body: {}",
            self.body
        );
        assert_eq!(self.body["status"], status, "body: {}", self.body);
        assert_eq!(self.body["code"], code, "body: {}", self.body);
        assert!(
            self.body["title"].is_string()
                && self.body["type"].is_string()
                && self.body["detail"].is_string()
        );
    }

    pub fn assert_status(&self, status: u16) -> &Value {
        assert_eq!(
            self.status.as_u16(),
            status,
            "unexpected status; body: {}",
            self.body
        );
        &self.body
    }

    /// Asserts the status and reads the body into `T` (one of the crate's DTOs).
    pub fn typed<T: DeserializeOwned>(&self, status: u16) -> T {
        let body = self.assert_status(status);
        serde_json::from_value(body.clone())
            .unwrap_or_else(|e| panic!("{e}: the body does not read as the DTO: {body}"))
    }

    /// The `items` of a page, read into `T`.
    pub fn items<T: DeserializeOwned>(&self) -> Vec<T> {
        let body = self.assert_status(200);
        serde_json::from_value(body["items"].clone())
            .unwrap_or_else(|e| panic!("{e}: the items do not read as the DTO: {body}"))
    }

    /// The problem's `errors[0].field`.
    pub fn field(&self) -> &Value {
        &self.body["errors"][0]["field"]
    }
}

impl TestApp {
    pub async fn spawn() -> Self {
        Self::spawn_with(&[]).await
    }

    /// Spawns with extra environment-style settings (e.g. `("LOGIN_THROTTLE_WINDOW_SECS", "2")`).
    pub async fn spawn_with(overrides: &[(&'static str, &str)]) -> Self {
        Self::spawn_with_routes(overrides, |_| {}).await
    }

    /// [`TestApp::spawn_with`], plus routes only this test has (behind the real middleware).
    pub async fn spawn_with_routes(
        overrides: &[(&'static str, &str)],
        extra: internal_store::startup::ExtraRoutes,
    ) -> Self {
        let db = TestDatabase::create().await;
        let mut env: HashMap<&str, String> = HashMap::from([
            ("DATABASE_URL", db.url.clone()),
            ("BIND", "127.0.0.1:0".into()),
            ("JWT_SECRET", JWT_SECRET.into()),
            ("HTTP_WORKERS", "2".into()),
            ("DB_POOL_MAX_SIZE", "8".into()),
        ]);
        for (key, value) in overrides {
            env.insert(key, (*value).to_owned());
        }
        let settings = Settings::from_map(&env).unwrap();
        let application = Application::build_with(settings.clone(), extra)
            .await
            .unwrap();
        Self::start(application, settings, std::sync::Arc::new(db)).await
    }

    async fn start(
        application: Application,
        settings: Settings,
        db: std::sync::Arc<TestDatabase>,
    ) -> Self {
        let address = format!("http://127.0.0.1:{}", application.port());
        let pool = application.pool.clone();
        let clock = application.clock.clone();
        tokio::spawn(application.run_until_stopped());
        let app = Self {
            clock,
            address,
            client: reqwest::Client::builder().build().unwrap(),
            pool,
            settings,
            db,
        };
        app.until_listing_cache_is_connected().await;
        app
    }

    /// Waits (up to 10 s) until the listing cache's listener has subscribed, so listings go
    /// through the cache as they do in production. Returns at once when the cache is off.
    pub async fn until_listing_cache_is_connected(&self) {
        if self.settings.listing_cache_ttl.is_zero() {
            return;
        }
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let ready = self.get("/health/ready", "").await;
            if ready.body["listing_cache"] == "connected" {
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the listing cache never connected: {:?}",
                ready.body
            );
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }

    /// A second, independent server instance on the same database (another process in
    /// production: its own pool, its own workers).
    pub async fn another_instance(&self) -> TestApp {
        let application = Application::build(self.settings.clone()).await.unwrap();
        Self::start(application, self.settings.clone(), self.db.clone()).await
    }

    /// This instance's address and client, for actors and racing tasks.
    pub fn api(&self) -> Api {
        Api::new(&self.address, self.client.clone())
    }

    /// The Prometheus text at `/metrics`.
    pub async fn metrics(&self) -> String {
        self.client
            .get(self.url("/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    pub async fn send(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Reply {
        self.api().send(method, path, token, body).await
    }

    pub async fn decode(response: reqwest::Response) -> Reply {
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.bytes().await.unwrap();
        let body = serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into()));
        Reply {
            status,
            headers,
            body,
        }
    }

    pub async fn get(&self, path: &str, who: &(impl Bearer + ?Sized)) -> Reply {
        self.send(Method::GET, path, Some(who.bearer()), None).await
    }

    pub async fn post(&self, path: &str, who: &(impl Bearer + ?Sized), body: Value) -> Reply {
        self.send(Method::POST, path, Some(who.bearer()), Some(body))
            .await
    }

    pub async fn patch(&self, path: &str, who: &(impl Bearer + ?Sized), body: Value) -> Reply {
        self.send(Method::PATCH, path, Some(who.bearer()), Some(body))
            .await
    }

    pub async fn login(&self, email: &str, password: &str) -> Reply {
        self.send(
            Method::POST,
            "/api/v1/auth/login",
            None,
            Some(json!({"email": email, "password": password})),
        )
        .await
    }

    pub async fn token(&self, email: &str, password: &str) -> String {
        self.api().token(email, password).await
    }

    /// Bootstraps the group JKL (USD) and its first admin.
    pub async fn bootstrap(&self) -> Group {
        self.bootstrap_group("JKL", "USD", ADMIN_EMAIL).await
    }

    /// Bootstraps another group with its root `code`, `currency` and first admin `admin_email`
    /// (password [`ADMIN_PASSWORD`]), exactly as `internal-store bootstrap` does.
    pub async fn bootstrap_group(&self, code: &str, currency: &str, admin_email: &str) -> Group {
        let created = internal_store::identity::bootstrap::run(
            &self.settings,
            internal_store::cli::BootstrapArgs {
                group_code: code.into(),
                group_name: format!("{code} Holdings"),
                currency: currency.into(),
                country: "US".into(),
                admin_email: admin_email.into(),
                admin_password: ADMIN_PASSWORD.into(),
                admin_name: "First Admin".into(),
            },
        )
        .await
        .unwrap();
        let token = self.token(admin_email, ADMIN_PASSWORD).await;
        Group {
            root_id: created.company_id,
            admin: Actor::new(self.api(), created.admin_id, token),
        }
    }
}
