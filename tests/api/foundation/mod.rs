//! The service skeleton: health, errors as problem+json, OpenAPI in sync, metrics, pool limits.

mod browser;
mod documents;
mod first_day;
mod http;

use crate::helpers::{HasId, TestApp};
use diesel_async::RunQueryDsl;
use reqwest::Method;
use serde_json::{json, Value};

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
    // The path parameter's name, never its value (§2).
    let bad_id = app
        .get("/api/v1/companies/zz-secret-zz", &group.admin)
        .await;
    bad_id.assert_problem(400, "validation_failed");
    assert_eq!(bad_id.field(), "id");
    assert!(!bad_id.body.to_string().contains("zz"), "{}", bad_id.body);
    let not_a_number = app.get("/api/v1/companies?limit=abc", &group.admin).await;
    not_a_number.assert_problem(400, "validation_failed");
    // The parameter's name, never its value (§2).
    assert_eq!(not_a_number.body["errors"][0]["field"], "limit");
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
        .env("JWT_SECRET", crate::helpers::JWT_SECRET)
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
    let logins = crate::helpers::Race::start((0..8).map(|_| {
        let client = client.clone();
        let url = format!("{base}/api/v1/auth/login");
        async move {
            client
                .post(url)
                .json(&serde_json::json!({"email": crate::helpers::ADMIN_EMAIL, "password": crate::helpers::ADMIN_PASSWORD}))
                .send()
                .await
                .map(|r| r.status().as_u16())
        }
    }));
    tokio::time::sleep(std::time::Duration::from_millis(40)).await;
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    for login in logins.finish().await {
        assert_eq!(login.ok(), Some(200), "an in-flight request was dropped");
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
