//! Test harness: every test gets its own database cloned from a migrated template, and the
//! real application on port 0 in front of it. Helpers read like the API they call.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};

use diesel_async::{AsyncPgConnection, RunQueryDsl};
use internal_store::config::Settings;
use internal_store::db::{self, DbPool};
use internal_store::startup::Application;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use tokio::sync::OnceCell;

pub mod trade;

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
            let mut entries: Vec<_> =
                std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations"))
                    .unwrap()
                    .map(|e| e.unwrap().path())
                    .collect();
            entries.sort();
            for dir in entries {
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
            diesel::sql_query("SELECT pg_advisory_lock(77120001)")
                .execute(&mut admin)
                .await
                .unwrap();
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
                diesel::sql_query(format!("CREATE DATABASE {building}"))
                    .execute(&mut admin)
                    .await
                    .unwrap();
                db::migrate(&with_database(&server, &building))
                    .await
                    .unwrap();
                diesel::sql_query(format!("ALTER DATABASE {building} RENAME TO {name}"))
                    .execute(&mut admin)
                    .await
                    .unwrap();
            }
            // Templates of older migration sets are dropped (unless something still uses them).
            let stale: Vec<Named> = diesel::sql_query(format!(
                "SELECT datname AS name FROM pg_database WHERE datname LIKE '{prefix}\\_%' AND datname <> '{name}' AND datname NOT LIKE '%\\_building'"
            ))
            .load(&mut admin)
            .await
            .unwrap_or_default();
            for old in stale {
                let _ = diesel::sql_query(format!("DROP DATABASE IF EXISTS {}", old.name)).execute(&mut admin).await;
            }
            diesel::sql_query("SELECT pg_advisory_unlock(77120001)")
                .execute(&mut admin)
                .await
                .unwrap();
            (server, name)
        })
        .await
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

/// A fresh database cloned from the template; dropped with the value.
pub struct TestDatabase {
    pub name: String,
    pub url: String,
    server: String,
}

impl TestDatabase {
    pub async fn create() -> Self {
        let (server, template) = template().await;
        let name = format!(
            "is_test_{}_{}_{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::SeqCst),
            rand_suffix()
        );
        let mut admin = db::connect(server).await.unwrap();
        diesel::sql_query(format!("CREATE DATABASE {name} TEMPLATE {template}"))
            .execute(&mut admin)
            .await
            .unwrap();
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
            db: std::sync::Arc::new(db),
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
        let address = format!("http://127.0.0.1:{}", application.port());
        let pool = application.pool.clone();
        let clock = application.clock.clone();
        tokio::spawn(application.run_until_stopped());
        let app = TestApp {
            clock,
            address,
            client: reqwest::Client::builder().build().unwrap(),
            pool,
            settings: self.settings.clone(),
            db: self.db.clone(),
        };
        app.until_listing_cache_is_connected().await;
        app
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
        let mut request = self.client.request(method, self.url(path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        Self::decode(request.send().await.unwrap()).await
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

    pub async fn get(&self, path: &str, token: &str) -> Reply {
        self.send(Method::GET, path, Some(token), None).await
    }

    pub async fn post(&self, path: &str, token: &str, body: Value) -> Reply {
        self.send(Method::POST, path, Some(token), Some(body)).await
    }

    pub async fn patch(&self, path: &str, token: &str, body: Value) -> Reply {
        self.send(Method::PATCH, path, Some(token), Some(body))
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
        let reply = self.login(email, password).await;
        reply.assert_status(200)["access_token"]
            .as_str()
            .unwrap()
            .to_owned()
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
        let admin = self.token(admin_email, ADMIN_PASSWORD).await;
        Group {
            root_id: created.company_id.to_string(),
            admin_id: created.admin_id.to_string(),
            admin,
        }
    }

    pub async fn create_company(
        &self,
        admin: &str,
        code: &str,
        parent: Option<&str>,
        currency: &str,
    ) -> Value {
        let reply = self
            .post(
                "/api/v1/companies",
                admin,
                json!({"code": code, "name": format!("{code} Inc."), "parent_id": parent, "currency": currency, "country": "US"}),
            )
            .await;
        reply.assert_status(201).clone()
    }

    /// Creates an employee with the given roles; returns (employee json, token).
    pub async fn create_employee(
        &self,
        admin: &str,
        company_id: &str,
        email: &str,
        roles: &[&str],
    ) -> (Value, String) {
        let password = "employee-password-1";
        let reply = self
            .post(
                "/api/v1/employees",
                admin,
                json!({
                    "email": email, "full_name": "Test Person", "company_id": company_id,
                    "employment_type": "direct", "client_type": "operational", "roles": roles,
                    "password": password
                }),
            )
            .await;
        let employee = reply.assert_status(201).clone();
        let token = self.token(email, password).await;
        (employee, token)
    }
}

impl TestApp {
    pub async fn create_category(&self, admin: &str, code: &str) -> Value {
        self.post(
            "/api/v1/categories",
            admin,
            json!({"code": code, "name": format!("{code} goods")}),
        )
        .await
        .assert_status(201)
        .clone()
    }

    pub async fn create_tier(
        &self,
        admin: &str,
        code: &str,
        percent: &str,
        allowance: Option<&str>,
        eligible: &[&str],
    ) -> Value {
        self.post(
            "/api/v1/discount-tiers",
            admin,
            json!({"code": code, "name": format!("{code} tier"), "discount_percent": percent,
                   "annual_allowance": allowance, "eligible_employment_types": eligible}),
        )
        .await
        .assert_status(201)
        .clone()
    }

    /// Creates a product; `extra` overrides or adds fields.
    pub async fn create_product(
        &self,
        admin: &str,
        sku: &str,
        category: &Value,
        seller: &str,
        price: &str,
        extra: Value,
    ) -> Value {
        let mut body = json!({
            "sku": sku, "name": format!("Product {sku}"), "category_id": category["id"],
            "seller_company_id": seller, "kind": "goods", "list_price": price, "unit_cost": "0",
            "stock_on_hand": 100
        });
        for (key, value) in extra.as_object().cloned().unwrap_or_default() {
            body[key] = value;
        }
        self.post("/api/v1/products", admin, body)
            .await
            .assert_status(201)
            .clone()
    }

    /// An employee with a tier and employment type; returns (employee json, token).
    pub async fn create_shopper(
        &self,
        admin: &str,
        company: &str,
        email: &str,
        tier: Option<&Value>,
        employment: &str,
    ) -> (Value, String) {
        let password = "shopper-password-1";
        let reply = self
            .post(
                "/api/v1/employees",
                admin,
                json!({
                    "email": email, "full_name": "Shopper", "company_id": company,
                    "employment_type": employment, "client_type": "operational",
                    "tier_id": tier.map(|t| t["id"].clone()), "password": password
                }),
            )
            .await;
        let employee = reply.assert_status(201).clone();
        let token = self.token(email, password).await;
        (employee, token)
    }

    pub async fn place_order(&self, token: &str, key: &str, lines: &[(&Value, i64)]) -> Reply {
        let lines = lines
            .iter()
            .map(|(p, q)| json!({"product_id": p["id"], "quantity": q}))
            .collect();
        post_order(&self.address, token, key, Value::Array(lines)).await
    }
}

/// `POST /api/v1/orders` on the instance at `address`, with its own client (and connection), so
/// that concurrent calls from spawned tasks really race.
pub async fn post_order(address: &str, token: &str, key: &str, lines: Value) -> Reply {
    let response = reqwest::Client::new()
        .post(format!("{address}/api/v1/orders"))
        .bearer_auth(token)
        .header("Idempotency-Key", key)
        .json(&json!({"lines": lines}))
        .send()
        .await
        .unwrap();
    TestApp::decode(response).await
}

pub struct Group {
    pub root_id: String,
    pub admin_id: String,
    pub admin: String,
}
