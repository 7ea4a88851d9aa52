//! The request log's client address, and a real browser on another origin.

use super::*;

#[derive(Clone)]
struct Capture(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Capture {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Capture {
    type Writer = Capture;
    fn make_writer(&'a self) -> Capture {
        self.clone()
    }
}

/// Everything this test binary's servers log (debug and up), as one growing text.
fn captured_log() -> Capture {
    static LOG: std::sync::OnceLock<Capture> = std::sync::OnceLock::new();
    LOG.get_or_init(|| {
        let capture = Capture(Default::default());
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new("internal_store=debug"))
            .with_ansi(false)
            .with_writer(capture.clone())
            .init();
        capture
    })
    .clone()
}

/// The log lines of the request with this id.
async fn log_of(request_id: &str) -> String {
    let capture = captured_log();
    for _ in 0..50 {
        let text = String::from_utf8_lossy(&capture.0.lock().unwrap()).into_owned();
        let lines: Vec<&str> = text.lines().filter(|l| l.contains(request_id)).collect();
        if lines.iter().any(|l| l.contains("request finished")) {
            return lines.join("\n");
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("no log line for request {request_id}");
}

async fn request_with_forwarded_for(app: &TestApp, forwarded: &str) -> String {
    let response = app
        .client
        .get(app.url("/health/live"))
        .header("x-forwarded-for", forwarded)
        .send()
        .await
        .unwrap();
    response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn the_log_shows_the_peer_unless_a_trusted_proxy_forwarded_the_request() {
    captured_log();
    let app = TestApp::spawn().await;
    let id = request_with_forwarded_for(&app, "203.0.113.66").await;
    let log = log_of(&id).await;
    assert!(log.contains("http.client_ip=127.0.0.1"), "{log}");
    assert!(
        !log.contains("203.0.113.66"),
        "a spoofed address was logged: {log}"
    );

    let behind_proxy = TestApp::spawn_with(&[("TRUSTED_PROXIES", "127.0.0.1")]).await;
    let id = request_with_forwarded_for(&behind_proxy, "198.51.100.9, 203.0.113.66").await;
    let log = log_of(&id).await;
    assert!(log.contains("http.client_ip=203.0.113.66"), "{log}");
    assert!(!log.contains("198.51.100.9"), "{log}");
}

// ---- a real browser on another origin --------------------------------------------------------

/// Serves `page` to every request on `listener` (a stand-in for a front-end's static host),
/// on a thread of its own for the rest of the test process.
fn serve_page(listener: std::net::TcpListener, page: String) {
    use std::io::{Read as _, Write as _};
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else {
                return;
            };
            let mut head = Vec::new();
            let mut buffer = [0u8; 4096];
            while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                match stream.read(&mut buffer) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => head.extend_from_slice(&buffer[..n]),
                }
            }
            let response = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: text/html; charset=utf-8\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{}",
                page.len(),
                page
            );
            let _ = stream.write_all(response.as_bytes());
        }
    });
}

/// The test page: signs in, lists products and places an order against `api`, then writes
/// one `RESULT …` line into the DOM.
fn shop_page(api: &str, email: &str, password: &str, key: &str) -> String {
    format!(
        r#"<!doctype html><html><head><title>shop</title></head><body><pre id="out">pending</pre>
<script>
const api = {api:?};
const out = document.getElementById("out");
(async () => {{
  try {{
    const login = await fetch(api + "/api/v1/auth/login", {{
      method: "POST", headers: {{"Content-Type": "application/json"}},
      body: JSON.stringify({{email: {email:?}, password: {password:?}}})}});
    const token = (await login.json()).access_token;
    const list = await fetch(api + "/api/v1/products?limit=5", {{headers: {{"Authorization": "Bearer " + token}}}});
    const items = (await list.json()).items;
    const order = await fetch(api + "/api/v1/orders", {{
      method: "POST",
      headers: {{"Authorization": "Bearer " + token, "Content-Type": "application/json", "Idempotency-Key": {key:?}}},
      body: JSON.stringify({{lines: [{{product_id: items[0].id, quantity: 1}}]}})}});
    const placed = await order.json();
    out.textContent = "RESULT login=" + login.status + " products=" + items.length + " order=" + order.status
      + " number=" + placed.number + " request_id=" + order.headers.get("x-request-id");
  }} catch (error) {{
    out.textContent = "RESULT error=" + error;
  }}
}})();
</script></body></html>"#
    )
}

/// Runs headless Chromium on `url` and returns the `RESULT …` line its page wrote.
async fn browse(url: &str) -> String {
    let profile = std::env::temp_dir().join(format!(
        "internal-store-chromium-{}-{}",
        std::process::id(),
        url.len() + url.bytes().map(usize::from).sum::<usize>()
    ));
    let output = tokio::time::timeout(
        std::time::Duration::from_secs(90),
        tokio::process::Command::new("chromium")
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
                &format!("--user-data-dir={}", profile.display()),
                "--virtual-time-budget=15000",
                "--dump-dom",
                url,
            ])
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("chromium finished within 90 s")
    .expect("chromium runs");
    let _ = std::fs::remove_dir_all(&profile);
    let dom = String::from_utf8_lossy(&output.stdout);
    dom.lines()
        .find_map(|line| {
            line.find("RESULT ")
                .map(|at| line[at..].trim_end_matches("</pre>").to_owned())
        })
        .unwrap_or_else(|| {
            panic!(
                "the page wrote no result; DOM: {dom}\nstderr: {}",
                String::from_utf8_lossy(&output.stderr)
            )
        })
}

/// §2 CORS in a real browser: the page from the allowed origin signs in, lists products and
/// places an order; the same page from another origin cannot. Needs Debian's `chromium`;
/// `.ci/run` installs it and sets `BROWSER_TEST_REQUIRED=1`, elsewhere the test says why it
/// skipped.
#[tokio::test]
async fn a_front_end_on_another_origin_shops_in_a_real_browser() {
    let has_chromium = std::process::Command::new("chromium")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !has_chromium {
        assert!(
            std::env::var("BROWSER_TEST_REQUIRED").is_err(),
            "BROWSER_TEST_REQUIRED is set but `chromium` is not installed"
        );
        eprintln!("SKIPPED: `chromium` is not installed (apt-get install chromium); set BROWSER_TEST_REQUIRED=1 to make this a failure");
        return;
    }
    let front = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let stranger = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let origin = format!("http://127.0.0.1:{}", front.local_addr().unwrap().port());
    let app = TestApp::spawn_with(&[("CORS_ALLOWED_ORIGINS", &origin)]).await;
    let group = app.bootstrap().await;
    let category = group.category("GADGETS").await;
    let product = group
        .product("G-1", &category, "25.00")
        .with(serde_json::json!({}))
        .create()
        .await;
    let (employee, _) = group
        .employee("browser@jkl.example")
        .roles(&["employee"])
        .create_viewed()
        .await;
    serve_page(
        front,
        shop_page(
            &app.address,
            "browser@jkl.example",
            "employee-password-1",
            "browser-order-1",
        ),
    );
    let stranger_url = format!(
        "http://127.0.0.1:{}/",
        stranger.local_addr().unwrap().port()
    );
    serve_page(
        stranger,
        shop_page(
            &app.address,
            "browser@jkl.example",
            "employee-password-1",
            "browser-order-2",
        ),
    );

    let result = browse(&format!("{origin}/")).await;
    assert!(
        result.contains("login=200")
            && result.contains("order=201")
            && !result.contains("number=undefined"),
        "{result}"
    );
    assert!(!result.contains("products=0"), "{result}");
    assert!(
        !result.contains("request_id=null"),
        "x-request-id is not exposed: {result}"
    );

    let refused = browse(&stranger_url).await;
    assert!(refused.contains("error="), "{refused}");
    eprintln!("allowed origin: {result}\nother origin:   {refused}");

    // Exactly the allowed page's order exists.
    let orders = app
        .get(
            &format!("/api/v1/orders?employee_id={}", employee.id),
            &group.admin,
        )
        .await;
    let items = orders.assert_status(200)["items"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(items.len(), 1, "{items:?}");
    assert_eq!(items[0]["lines"][0]["product_id"], json!(product.id));
}
