//! The HTTP edge: the panic net, headers, exact routing, bounded metrics, CORS, request heads.

use super::*;

/// Only this test binary has it: a route that panics, behind the real middleware.
fn panicking_route(cfg: &mut actix_web::web::ServiceConfig) {
    cfg.route(
        "/test/panic",
        actix_web::web::get().to(|| async {
            let lines: Vec<u32> = Vec::new();
            // The kind of bug the net is for.
            let first = lines
                .get(3)
                .copied()
                .unwrap_or_else(|| panic!("index out of bounds in a handler"));
            actix_web::HttpResponse::Ok().body(first.to_string())
        }),
    );
}

#[tokio::test]
async fn a_panic_in_a_handler_is_a_500_problem_and_the_connection_survives() {
    let app = TestApp::spawn_with_routes(&[], panicking_route).await;
    // One connection for all requests: the panic must not drop it.
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(1)
        .build()
        .unwrap();
    for _ in 0..3 {
        let reply = TestApp::decode(client.get(app.url("/test/panic")).send().await.unwrap()).await;
        reply.assert_problem(500, "internal_error");
        assert!(!reply.body.to_string().contains("index out of bounds"));
        assert!(reply.headers.contains_key("x-request-id"));
        assert_eq!(reply.headers["x-content-type-options"], "nosniff");
        let after =
            TestApp::decode(client.get(app.url("/health/live")).send().await.unwrap()).await;
        after.assert_status(200);
    }
}

#[tokio::test]
async fn nosniff_everywhere_and_no_store_on_tokens_and_personal_answers() {
    let app = TestApp::spawn().await;
    let group = app.bootstrap().await;
    let header = |reply: &crate::helpers::Reply, name: &str| {
        reply
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let public = [
        app.send(Method::GET, "/health/live", None, None).await,
        app.send(Method::GET, "/api/v1/nope", None, None).await,
        app.send(Method::GET, "/api-docs/openapi.json", None, None)
            .await,
    ];
    for reply in &public {
        assert_eq!(
            header(reply, "x-content-type-options").as_deref(),
            Some("nosniff")
        );
        assert_eq!(header(reply, "cache-control"), None, "{:?}", reply.headers);
    }
    let metrics = app.client.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(metrics.headers()["x-content-type-options"], "nosniff");

    let token = app
        .login(crate::helpers::ADMIN_EMAIL, crate::helpers::ADMIN_PASSWORD)
        .await;
    token.assert_status(200);
    let failed = app
        .login(crate::helpers::ADMIN_EMAIL, "wrong-password-guess")
        .await;
    let me = app.get("/api/v1/me", &group.admin).await;
    let refused = app.get("/api/v1/me", "not-a-token").await;
    for reply in [&token, &failed, &me, &refused] {
        assert_eq!(
            header(reply, "x-content-type-options").as_deref(),
            Some("nosniff")
        );
        assert_eq!(header(reply, "cache-control").as_deref(), Some("no-store"));
    }
}

#[tokio::test]
async fn trailing_or_doubled_slashes_are_404_and_allow_is_exact() {
    let app = TestApp::spawn().await;
    let group = app.bootstrap().await;
    for path in [
        "/api/v1/me/",
        "/api//v1/me",
        "//api/v1/me",
        "/health/live/",
        "/api/v1/orders//quote",
    ] {
        app.get(path, &group.admin)
            .await
            .assert_problem(404, "not_found");
    }
    let allow = |reply: &crate::helpers::Reply| {
        reply
            .headers
            .get("allow")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let wrong = app.get("/api/v1/orders/quote", &group.admin).await;
    wrong.assert_problem(405, "method_not_allowed");
    assert_eq!(allow(&wrong).as_deref(), Some("POST"));
    assert!(!wrong.body["detail"].as_str().unwrap_or("").contains("GET"));
    let options = app
        .send(Method::OPTIONS, "/api/v1/orders/quote", None, None)
        .await;
    assert_eq!(options.status.as_u16(), 204);
    assert_eq!(allow(&options).as_deref(), Some("POST"));
    let options = app.send(Method::OPTIONS, "/api/v1/me", None, None).await;
    assert_eq!(allow(&options).as_deref(), Some("GET"));
    let order = app
        .send(
            Method::DELETE,
            "/api/v1/orders/0b8f4d1e-0000-4000-8000-000000000000",
            None,
            None,
        )
        .await;
    order.assert_problem(405, "method_not_allowed");
    assert_eq!(allow(&order).as_deref(), Some("GET"));
}

/// The metric series (names and labels, without values) in a Prometheus text.
fn series(text: &str) -> std::collections::BTreeSet<String> {
    text.lines()
        .filter(|line| !line.starts_with('#') && !line.is_empty())
        .filter_map(|line| line.rsplit_once(' ').map(|(series, _)| series.to_owned()))
        .collect()
}

#[tokio::test]
async fn odd_methods_and_unknown_paths_leave_the_metrics_the_same_size() {
    let app = TestApp::spawn().await;
    let odd = |n: usize| Method::from_bytes(format!("PROBE{n}").as_bytes()).unwrap();
    // One of each kind first, so the collapsed series exist.
    app.send(odd(0), "/health/live", None, None)
        .await
        .assert_problem(405, "method_not_allowed");
    app.send(odd(0), "/no/such/path", None, None)
        .await
        .assert_problem(404, "not_found");
    app.send(Method::GET, "/no/such/path/0", None, None).await;
    app.metrics().await;
    let before = series(&app.metrics().await);
    for n in 1..=300 {
        app.send(odd(n), "/health/live", None, None).await;
        app.send(odd(n), &format!("/no/such/path/{n}"), None, None)
            .await;
        app.send(Method::GET, &format!("/no/such/path/{n}"), None, None)
            .await;
    }
    let after = series(&app.metrics().await);
    assert_eq!(
        before
            .iter()
            .filter(|s| s.starts_with("internal_store_http"))
            .count(),
        after
            .iter()
            .filter(|s| s.starts_with("internal_store_http"))
            .count(),
        "new series: {:?}",
        after.difference(&before).collect::<Vec<_>>()
    );
    assert!(!after.iter().any(|s| s.contains("PROBE")));
    assert!(after.iter().any(|s| s.contains("method=\"OTHER\"")));
}

#[tokio::test]
async fn metrics_token_when_set_is_required() {
    let token = "a-metrics-token-of-some-length";
    let app = TestApp::spawn_with(&[("METRICS_TOKEN", token)]).await;
    let anonymous = app.send(Method::GET, "/metrics", None, None).await;
    anonymous.assert_problem(401, "unauthorized");
    app.send(
        Method::GET,
        "/metrics",
        Some("a-wrong-token-of-some-length"),
        None,
    )
    .await
    .assert_problem(401, "unauthorized");
    let scraped = app
        .client
        .get(app.url("/metrics"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(scraped.status().as_u16(), 200);
    assert!(scraped
        .text()
        .await
        .unwrap()
        .contains("internal_store_http_requests_total"));
}

#[tokio::test]
async fn cors_answers_only_the_configured_origins() {
    let allowed = "http://shop.example.test:5173";
    let app = TestApp::spawn_with(&[("CORS_ALLOWED_ORIGINS", allowed)]).await;
    let preflight = |origin: &'static str| {
        app.client
            .request(Method::OPTIONS, app.url("/api/v1/orders"))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "authorization,content-type,idempotency-key",
            )
            .send()
    };
    let ok = preflight(allowed).await.unwrap();
    assert!(ok.status().is_success(), "{}", ok.status());
    let headers = ok.headers().clone();
    assert_eq!(headers["access-control-allow-origin"], allowed);
    let allowed_headers = headers["access-control-allow-headers"]
        .to_str()
        .unwrap()
        .to_lowercase();
    for name in ["authorization", "content-type", "idempotency-key"] {
        assert!(allowed_headers.contains(name), "{allowed_headers}");
    }
    assert!(headers["access-control-allow-methods"]
        .to_str()
        .unwrap()
        .contains("POST"));

    let other = preflight("http://evil.example.test").await.unwrap();
    assert!(!other.headers().contains_key("access-control-allow-origin"));
    assert!(!other.status().is_success());
    let other = TestApp::decode(other).await;
    assert_eq!(other.content_type(), "application/problem+json");

    let simple = |origin: &'static str| {
        app.client
            .get(app.url("/health/live"))
            .header("origin", origin)
            .send()
    };
    let answered = simple(allowed).await.unwrap();
    assert_eq!(answered.headers()["access-control-allow-origin"], allowed);
    let exposed = answered.headers()["access-control-expose-headers"]
        .to_str()
        .unwrap()
        .to_lowercase();
    assert!(exposed.contains("x-request-id"), "{exposed}");
    let refused = simple("http://evil.example.test").await.unwrap();
    assert_eq!(refused.status().as_u16(), 200);
    assert!(!refused
        .headers()
        .contains_key("access-control-allow-origin"));

    // Without the setting, no origin is allowed.
    let closed = TestApp::spawn().await;
    let preflight = closed
        .client
        .request(Method::OPTIONS, closed.url("/api/v1/orders"))
        .header("origin", allowed)
        .header("access-control-request-method", "POST")
        .send()
        .await
        .unwrap();
    assert!(!preflight
        .headers()
        .contains_key("access-control-allow-origin"));
}

/// Sends `head` (a raw HTTP/1.1 request head) and returns the status code of the answer.
async fn raw_status(app: &TestApp, head: String) -> u16 {
    let address = app.address.trim_start_matches("http://").to_owned();
    tokio::task::spawn_blocking(move || {
        use std::io::{Read as _, Write as _};
        let mut stream = std::net::TcpStream::connect(address).unwrap();
        stream
            .set_read_timeout(Some(std::time::Duration::from_secs(10)))
            .unwrap();
        // The server may answer (and close) before reading everything.
        let _ = stream.write_all(head.as_bytes());
        let mut answer = Vec::new();
        let _ = stream.read_to_end(&mut answer);
        let text = String::from_utf8_lossy(&answer).into_owned();
        text.split_whitespace()
            .nth(1)
            .and_then(|status| status.parse().ok())
            .unwrap_or_else(|| panic!("no HTTP answer: {text:?}"))
    })
    .await
    .unwrap()
}

/// Framework limits that actix enforces before any application code: a too-long request line
/// or too many header bytes get a bare 4xx (documented in docs/SECURITY.md), never a hang or a
/// dropped connection without an answer.
#[tokio::test]
async fn oversized_request_heads_get_an_answer() {
    let app = TestApp::spawn().await;
    // Over actix-http's 128 KiB for the request head: 431 from the framework itself.
    let long_uri = format!(
        "GET /health/live?q={} HTTP/1.1\r\nhost: localhost\r\n\r\n",
        "a".repeat(200 * 1024)
    );
    assert_eq!(raw_status(&app, long_uri).await, 431);
    let large_header = format!(
        "GET /health/live HTTP/1.1\r\nhost: localhost\r\nx-large: {}\r\n\r\n",
        "b".repeat(1024 * 1024)
    );
    assert_eq!(raw_status(&app, large_header).await, 431);
    // More than 96 header fields: 431 as well.
    let many_headers = format!(
        "GET /health/live HTTP/1.1\r\nhost: localhost\r\n{}\r\n",
        (0..100)
            .map(|n| format!("x-h{n}: v\r\n"))
            .collect::<String>()
    );
    assert_eq!(raw_status(&app, many_headers).await, 431);
    // A malformed request line: 400.
    assert_eq!(
        raw_status(&app, "NOT HTTP AT ALL\r\n\r\n".into()).await,
        400
    );
    // A 50 KiB URI is within the limit and reaches the application (problem+json as usual).
    let reply = app
        .send(
            Method::GET,
            &format!("/api/v1/nope?q={}", "c".repeat(50 * 1024)),
            None,
            None,
        )
        .await;
    reply.assert_problem(404, "not_found");
    // The server is unaffected.
    app.send(Method::GET, "/health/live", None, None)
        .await
        .assert_status(200);
}

// ---- the request log -----------------------------------------------------------------------
