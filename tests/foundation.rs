//! The service skeleton: health, errors as problem+json, OpenAPI in sync, metrics, pool limits.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::TestApp;
use diesel_async::RunQueryDsl;
use reqwest::Method;
use serde_json::Value;

#[tokio::test]
async fn health_endpoints_answer_with_a_request_id() {
    let app = TestApp::spawn().await;
    let live = app.send(Method::GET, "/health/live", None, None).await;
    assert_eq!(live.assert_status(200)["status"], "ok");
    let ready = app.send(Method::GET, "/health/ready", None, None).await;
    assert_eq!(ready.assert_status(200)["status"], "ok");
    let id = ready
        .headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    assert_eq!(id.len(), 36, "x-request-id should be a UUID, got {id:?}");
}

#[tokio::test]
async fn every_framework_error_is_problem_json() {
    let app = TestApp::spawn().await;
    let malformed = app
        .client
        .post(app.url("/api/v1/auth/login"))
        .header("content-type", "application/json")
        .body("{bad json")
        .send()
        .await
        .unwrap();
    TestApp::decode(malformed)
        .await
        .assert_problem(400, "validation_failed");

    app.send(Method::GET, "/api/v1/nope", None, None)
        .await
        .assert_problem(404, "not_found");

    let wrong_method = app
        .send(Method::DELETE, "/api/v1/auth/login", None, None)
        .await;
    wrong_method.assert_problem(405, "method_not_allowed");
    assert_eq!(
        wrong_method
            .headers
            .get("allow")
            .and_then(|v| v.to_str().ok()),
        Some("POST")
    );
    app.send(Method::PUT, "/health/live", None, None)
        .await
        .assert_problem(405, "method_not_allowed");

    let huge = vec![b' '; 3 * 1024 * 1024];
    let too_large = app
        .client
        .post(app.url("/api/v1/auth/login"))
        .header("content-type", "application/json")
        .body(huge)
        .send()
        .await
        .unwrap();
    TestApp::decode(too_large)
        .await
        .assert_problem(413, "payload_too_large");

    let wrong_type = app
        .client
        .post(app.url("/api/v1/auth/login"))
        .header("content-type", "text/plain")
        .body("{}")
        .send()
        .await
        .unwrap();
    TestApp::decode(wrong_type)
        .await
        .assert_problem(415, "unsupported_media_type");

    let unknown_field = app
        .send(
            Method::POST,
            "/api/v1/auth/login",
            None,
            Some(serde_json::json!({"email": "a@b.c", "password": "x", "roles": ["admin"]})),
        )
        .await;
    unknown_field.assert_problem(422, "validation_failed");
    assert_eq!(unknown_field.body["errors"][0]["field"], "roles");
}

#[tokio::test]
async fn bad_path_and_query_parameters_are_400() {
    let app = TestApp::spawn().await;
    let group = app.bootstrap().await;
    app.get("/api/v1/companies/not-a-uuid", &group.admin)
        .await
        .assert_problem(400, "validation_failed");
    app.get("/api/v1/companies?limit=abc", &group.admin)
        .await
        .assert_problem(400, "validation_failed");
    let too_many = app.get("/api/v1/companies?limit=101", &group.admin).await;
    too_many.assert_problem(400, "validation_failed");
    assert_eq!(too_many.body["errors"][0]["field"], "limit");
    app.get("/api/v1/companies?cursor=garbage!", &group.admin)
        .await
        .assert_problem(400, "validation_failed");
}

#[tokio::test]
async fn openapi_served_generated_and_committed_are_identical() {
    let app = TestApp::spawn().await;
    let served = app
        .send(Method::GET, "/api-docs/openapi.json", None, None)
        .await;
    let served = served.assert_status(200).clone();
    let generated: Value = internal_store::openapi::document();
    let committed: Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/openapi/openapi.json"))
            .unwrap(),
    )
    .unwrap();
    let printed = std::process::Command::new(env!("CARGO_BIN_EXE_internal-store"))
        .arg("openapi")
        .output()
        .unwrap();
    assert!(printed.status.success());
    let printed: Value = serde_json::from_slice(&printed.stdout).unwrap();
    assert_eq!(served, generated);
    assert_eq!(printed, generated);
    assert_eq!(
        committed, generated,
        "openapi/openapi.json is stale: run `cargo run -- openapi > openapi/openapi.json`"
    );
    assert!(generated["components"]["securitySchemes"]["bearer"].is_object());
    let login = &generated["paths"]["/api/v1/auth/login"]["post"];
    assert_eq!(login["security"], serde_json::json!([]));
    assert!(login["responses"]["429"]["headers"]["Retry-After"].is_object());
    let docs = app.client.get(app.url("/docs")).send().await.unwrap();
    assert_eq!(docs.status().as_u16(), 200);
}

#[tokio::test]
async fn metrics_are_prometheus_text_with_routes_and_pool() {
    let app = TestApp::spawn().await;
    app.send(Method::GET, "/health/live", None, None).await;
    tokio::time::sleep(std::time::Duration::from_millis(1200)).await;
    let text = app.metrics().await;
    assert!(
        text.contains("internal_store_http_requests_total"),
        "{text}"
    );
    assert!(text.contains("endpoint=\"/health/live\""), "{text}");
    assert!(
        text.contains("internal_store_http_requests_duration_seconds_bucket"),
        "{text}"
    );
    assert!(
        text.contains("internal_store_db_pool_connections{state=\"max\"} 8"),
        "{text}"
    );
}

#[tokio::test]
async fn an_exhausted_pool_answers_503_quickly_instead_of_hanging() {
    let app = TestApp::spawn_with(&[
        ("DB_POOL_MAX_SIZE", "1"),
        ("DB_POOL_WAIT_TIMEOUT_MS", "300"),
    ])
    .await;
    let held = app.pool.get().await.unwrap();
    let started = std::time::Instant::now();
    let reply = app.send(Method::GET, "/health/ready", None, None).await;
    reply.assert_problem(503, "unavailable");
    assert!(reply.headers.get("retry-after").is_some());
    assert!(started.elapsed() < std::time::Duration::from_secs(3));
    app.send(Method::GET, "/health/live", None, None)
        .await
        .assert_status(200);
    drop(held);
    app.send(Method::GET, "/health/ready", None, None)
        .await
        .assert_status(200);
}

#[tokio::test]
async fn readiness_follows_the_database_without_a_restart() {
    let app = TestApp::spawn().await;
    app.send(Method::GET, "/health/ready", None, None)
        .await
        .assert_status(200);
    // Make this database refuse connections and cut the existing ones: as if it went away.
    let mut admin = internal_store::db::connect(&app.db.url.replace(&app.db.name, "postgres"))
        .await
        .unwrap();
    diesel::sql_query(format!(
        "ALTER DATABASE {} ALLOW_CONNECTIONS false",
        app.db.name
    ))
    .execute(&mut admin)
    .await
    .unwrap();
    diesel::sql_query(format!(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{}'",
        app.db.name
    ))
    .execute(&mut admin)
    .await
    .unwrap();
    let started = std::time::Instant::now();
    app.send(Method::GET, "/health/ready", None, None)
        .await
        .assert_problem(503, "unavailable");
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
    app.send(Method::GET, "/health/live", None, None)
        .await
        .assert_status(200);
    diesel::sql_query(format!(
        "ALTER DATABASE {} ALLOW_CONNECTIONS true",
        app.db.name
    ))
    .execute(&mut admin)
    .await
    .unwrap();
    app.send(Method::GET, "/health/ready", None, None)
        .await
        .assert_status(200);
}

#[tokio::test]
async fn a_bad_setting_stops_the_binary_naming_the_variable() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_internal-store"))
        .arg("serve")
        .env("DB_POOL_MAX_SIZE", "many")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("DB_POOL_MAX_SIZE"));
}

#[tokio::test]
async fn sigterm_lets_in_flight_requests_finish() {
    let app = TestApp::spawn().await;
    app.bootstrap().await;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_internal-store"))
        .arg("serve")
        .env("DATABASE_URL", &app.db.url)
        .env("BIND", format!("127.0.0.1:{port}"))
        .env("JWT_SECRET", common::JWT_SECRET)
        .env("RUST_LOG", "warn")
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    for _ in 0..100 {
        if client
            .get(format!("{base}/health/live"))
            .send()
            .await
            .is_ok()
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    // Logins take a while (Argon2, one at a time): several are still running at SIGTERM.
    let mut logins = Vec::new();
    for _ in 0..8 {
        let client = client.clone();
        let url = format!("{base}/api/v1/auth/login");
        logins.push(tokio::spawn(async move {
            client
                .post(url)
                .json(&serde_json::json!({"email": common::ADMIN_EMAIL, "password": common::ADMIN_PASSWORD}))
                .send()
                .await
                .map(|r| r.status().as_u16())
        }));
    }
    tokio::time::sleep(std::time::Duration::from_millis(40)).await;
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    for login in logins {
        assert_eq!(
            login.await.unwrap().ok(),
            Some(200),
            "an in-flight request was dropped"
        );
    }
    let status = child.wait().unwrap();
    assert!(status.success(), "exit status {status:?}");
    assert!(
        client
            .get(format!("{base}/health/live"))
            .send()
            .await
            .is_err(),
        "still listening after SIGTERM"
    );
}

#[derive(diesel::QueryableByName)]
struct Backend {
    #[diesel(sql_type = diesel::sql_types::Integer)]
    pid: i32,
}

/// The PostgreSQL backends serving the app's pool (everything on its database but this probe
/// and the listing cache's listener).
async fn pool_backends(app: &TestApp, probe: &mut diesel_async::AsyncPgConnection) -> Vec<i32> {
    let rows: Vec<Backend> = diesel::sql_query(
        "SELECT pid FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid() \
         AND application_name <> 'internal-store-listener' ORDER BY pid",
    )
    .bind::<diesel::sql_types::Text, _>(&app.db.name)
    .load(probe)
    .await
    .unwrap();
    rows.into_iter().map(|b| b.pid).collect()
}

#[tokio::test]
async fn pooled_connections_are_renewed_after_their_lifetime() {
    let app = TestApp::spawn_with(&[("DB_POOL_MAX_LIFETIME_SECS", "1")]).await;
    let mut probe = app.db.connect().await;
    app.get("/health/ready", "").await.assert_status(200);
    let before = pool_backends(&app, &mut probe).await;
    assert!(!before.is_empty());
    tokio::time::sleep(std::time::Duration::from_millis(1_500)).await;
    for _ in 0..3 {
        app.get("/health/ready", "").await.assert_status(200);
    }
    let after = pool_backends(&app, &mut probe).await;
    assert!(
        !after.is_empty() && after.iter().all(|pid| !before.contains(pid)),
        "old connections were reused: before {before:?}, after {after:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// The contract: the document and the server agree.

/// Every operation whose bearer requirement lists roles (the document's statement of who may
/// call it) answers 403 to an employee without them, before looking at the body: an incomplete
/// body, or one holding NUL, teaches such a caller nothing about the operation.
#[tokio::test]
async fn roles_are_checked_before_the_body_on_every_role_gated_operation() {
    let app = TestApp::spawn().await;
    let group = app.bootstrap().await;
    let (_, employee) = app
        .create_employee(
            &group.admin,
            &group.root_id,
            "plain@jkl.example",
            &["employee"],
        )
        .await;
    let document = internal_store::openapi::document();
    let mut checked = Vec::new();
    for (path, item) in document["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let roles: Vec<&str> = operation["security"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|r| r["bearer"].as_array())
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            if roles.is_empty() || roles.contains(&"employee") {
                continue;
            }
            let mut concrete = path
                .split('/')
                .map(|part| {
                    if part.starts_with('{') {
                        "00000000-0000-4000-8000-000000000000"
                    } else {
                        part
                    }
                })
                .collect::<Vec<_>>()
                .join("/");
            // Required query parameters get a valid value (this test is about bodies).
            let required: Vec<String> = operation["parameters"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|p| p["in"] == "query" && p["required"] == true)
                .map(|p| {
                    format!(
                        "{}={}",
                        p["name"].as_str().unwrap(),
                        p["schema"]["minimum"].as_i64().unwrap_or(1)
                    )
                })
                .collect();
            if !required.is_empty() {
                concrete = format!("{concrete}?{}", required.join("&"));
            }
            let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            for body in [
                None,
                Some(serde_json::json!({})),
                Some(serde_json::json!({"name": "\u{0}", "unknown": 1})),
            ] {
                if body.is_some() && operation.get("requestBody").is_none() {
                    continue;
                }
                let reply = app
                    .send(method.clone(), &concrete, Some(&employee), body.clone())
                    .await;
                assert_eq!(
                    reply.status.as_u16(),
                    403,
                    "{method} {path} with {body:?}: {}",
                    reply.body
                );
                reply.assert_problem(403, "forbidden");
            }
            checked.push(format!("{method} {path}"));
        }
    }
    assert!(
        checked.iter().any(|c| c == "POST /api/v1/employees") && checked.len() >= 15,
        "role-gated operations found: {checked:?}"
    );
}

/// NUL cannot be stored by PostgreSQL: wherever it appears in a body (top level, nested,
/// in a login), it is a 422 naming the field; in a query parameter, a 400 naming it.
#[tokio::test]
async fn text_holding_nul_is_refused_naming_the_field_in_every_body() {
    let app = TestApp::spawn().await;
    let group = app.bootstrap().await;
    let admin = &group.admin;
    let cases = [
        (
            "/api/v1/discount-tiers",
            serde_json::json!({"code": "T1", "name": "\u{0}", "discount_percent": "5"}),
            "name",
        ),
        (
            "/api/v1/categories",
            serde_json::json!({"code": "C\u{0}", "name": "x"}),
            "code",
        ),
        (
            "/api/v1/companies",
            serde_json::json!({"code": "X", "name": "X", "parent_id": group.root_id, "currency": "USD", "country": "US\u{0}"}),
            "country",
        ),
        (
            "/api/v1/orders/quote",
            serde_json::json!({"lines": [{"product_id": "\u{0}", "quantity": 1}]}),
            "lines[0].product_id",
        ),
    ];
    for (path, body, field) in cases {
        let reply = app.post(path, admin, body).await;
        reply.assert_problem(422, "validation_failed");
        assert_eq!(
            reply.body["errors"][0]["field"], field,
            "{path}: {}",
            reply.body
        );
    }
    let login = app.login("ada\u{0}@jkl.example", "whatever-password").await;
    login.assert_problem(422, "validation_failed");
    assert_eq!(login.body["errors"][0]["field"], "email");
    let query = app.get("/api/v1/products?q=a%00b", admin).await;
    query.assert_problem(400, "validation_failed");
    assert_eq!(query.body["errors"][0]["field"], "q");
    let cursor = internal_store::pagination::encode_cursor(&"a\u{0}".to_string());
    app.get(&format!("/api/v1/categories?cursor={cursor}"), admin)
        .await
        .assert_problem(400, "validation_failed");
}

/// What the server sends back can be sent again: `us_irc_132` is accepted as input, read back
/// with the same spelling, and the document lists exactly that spelling.
#[tokio::test]
async fn benefit_tax_rule_reads_back_as_it_is_written() {
    let app = TestApp::spawn().await;
    let group = app.bootstrap().await;
    let created = app
        .post(
            "/api/v1/companies",
            &group.admin,
            serde_json::json!({"code": "ABC", "name": "ABC", "parent_id": group.root_id,
                "currency": "USD", "country": "US", "benefit_tax_rule": "us_irc_132",
                "qualified_discount_gp_percent": "35"}),
        )
        .await;
    let created = created.assert_status(201).clone();
    assert_eq!(created["benefit_tax_rule"], "us_irc_132");
    let id = created["id"].as_str().unwrap();
    app.patch(
        &format!("/api/v1/companies/{id}"),
        &group.admin,
        serde_json::json!({"benefit_tax_rule": created["benefit_tax_rule"]}),
    )
    .await
    .assert_status(200);
    let document = internal_store::openapi::document();
    assert_eq!(
        document["components"]["schemas"]["BenefitTaxRule"]["enum"],
        serde_json::json!(["none", "us_irc_132"])
    );
}

/// The listing's items validate against `ProductView` for an employee (no admin fields) and an
/// admin (with them): every required property present, no property the schema does not list.
#[tokio::test]
async fn product_items_match_the_documented_schema_for_employees_and_admins() {
    let app = TestApp::spawn().await;
    let group = app.bootstrap().await;
    let category = app.create_category(&group.admin, "TOOLS").await;
    let product = app
        .create_product(
            &group.admin,
            "SKU-1",
            &category,
            &group.root_id,
            "10.00",
            serde_json::json!({}),
        )
        .await;
    let (_, employee) = app
        .create_shopper(
            &group.admin,
            &group.root_id,
            "shop@jkl.example",
            None,
            "direct",
        )
        .await;
    let document = internal_store::openapi::document();
    let schema = &document["components"]["schemas"]["ProductView"];
    assert!(schema.get("allOf").is_none(), "{schema}");
    let conforms = |item: &Value| {
        let properties = schema["properties"].as_object().unwrap();
        for required in schema["required"].as_array().unwrap() {
            assert!(
                item.get(required.as_str().unwrap()).is_some(),
                "{required} missing: {item}"
            );
        }
        for key in item.as_object().unwrap().keys() {
            assert!(properties.contains_key(key), "{key} undocumented: {item}");
        }
    };
    let listing = app.get("/api/v1/products", &employee).await;
    let item = &listing.assert_status(200)["items"][0];
    assert!(item.get("unit_cost").is_none());
    conforms(item);
    let id = product["id"].as_str().unwrap();
    let admin_view = app
        .get(&format!("/api/v1/products/{id}"), &group.admin)
        .await;
    let admin_view = admin_view.assert_status(200);
    assert!(admin_view.get("unit_cost").is_some());
    conforms(admin_view);
}

/// `/docs` works without internet: the page and every file it loads (stylesheets, icons,
/// scripts, then the document the initializer names) are served by the service itself, and
/// neither the page nor the initializer refers to another origin.
#[tokio::test]
async fn docs_page_and_every_asset_it_loads_come_from_the_service() {
    let app = TestApp::spawn().await;
    let page = app.client.get(app.url("/docs")).send().await.unwrap();
    assert_eq!(page.status().as_u16(), 200);
    assert!(page.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    let html = page.text().await.unwrap();
    let mut assets = Vec::new();
    for attribute in ["src=\"", "href=\""] {
        for piece in html.split(attribute).skip(1) {
            assets.push(piece.split('"').next().unwrap().to_owned());
        }
    }
    assert!(assets.len() >= 4, "{html}");
    assert!(
        assets.iter().any(|a| a.ends_with(".js")) && assets.iter().any(|a| a.ends_with(".css"))
    );
    let mut scripts = String::new();
    for asset in &assets {
        assert!(asset.starts_with("/docs/"), "asset from elsewhere: {asset}");
        let response = app.client.get(app.url(asset)).send().await.unwrap();
        assert_eq!(response.status().as_u16(), 200, "{asset}");
        let body = response.text().await.unwrap_or_default();
        if asset.ends_with("initializer.js") {
            scripts.push_str(&body);
        }
        if asset.ends_with(".css") {
            // Stylesheets may embed images as data: URIs but load nothing from elsewhere.
            for url in body.split("url(").skip(1) {
                let target = url.trim_start_matches(['"', '\'']);
                assert!(
                    target.starts_with("data:") || target.starts_with('/'),
                    "{asset}: {url:.60}"
                );
            }
        }
    }
    assert!(
        scripts.contains("\"url\": \"/api-docs/openapi.json\""),
        "{scripts}"
    );
    assert!(
        !scripts.contains("http://") && !scripts.contains("https://"),
        "{scripts}"
    );
    assert!(scripts.contains("\"validatorUrl\": \"none\""), "{scripts}");
    let document = app
        .client
        .get(app.url("/api-docs/openapi.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(document.status().as_u16(), 200);
}
