//! An operator's first day: a `.env` is read (the environment wins over it), and at the default
//! level the log says where the service listens, one access line per request (a scrape too,
//! without a warning), and when it stops.

use super::*;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Waits until `base` answers `/health/ready` (up to 10 s).
async fn ready(base: &str) -> bool {
    for _ in 0..200 {
        if reqwest::get(format!("{base}/health/ready"))
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            return true;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    false
}

fn terminate(child: &mut std::process::Child) {
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();
}

#[tokio::test]
async fn a_dot_env_file_configures_the_service_and_the_environment_wins_over_it() {
    let app = TestApp::spawn().await;
    let dir = std::env::temp_dir().join(format!("is-dotenv-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let from_file = free_port();
    std::fs::write(
        dir.join(".env"),
        format!(
            "# written by the test\nBIND=127.0.0.1:{from_file}\nDATABASE_URL={}\nLOG_FORMAT=json\n",
            app.db.url
        ),
    )
    .unwrap();
    let spawn = |env: &[(&str, String)]| {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_internal-store"));
        command
            .arg("serve")
            .current_dir(&dir)
            .env_clear()
            .stderr(std::process::Stdio::null());
        for (name, value) in env {
            command.env(name, value);
        }
        command.spawn().unwrap()
    };
    // Nothing in the environment: the file decides.
    let mut child = spawn(&[]);
    let listening = ready(&format!("http://127.0.0.1:{from_file}")).await;
    terminate(&mut child);
    assert!(listening, "the service did not listen on the .env's BIND");
    // BIND in the environment wins; DATABASE_URL still comes from the file.
    let from_env = free_port();
    let mut child = spawn(&[("BIND", format!("127.0.0.1:{from_env}"))]);
    let listening = ready(&format!("http://127.0.0.1:{from_env}")).await;
    terminate(&mut child);
    assert!(
        listening,
        "the environment's BIND did not win over the .env's"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn the_default_log_has_one_access_line_per_request_and_says_where_and_when() {
    let app = TestApp::spawn().await;
    let group = app.bootstrap().await;
    let port = free_port();
    let dir = std::env::temp_dir().join(format!("is-log-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let log_path = dir.join("server.log");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_internal-store"))
        .arg("serve")
        .env_remove("RUST_LOG")
        .env("DATABASE_URL", &app.db.url)
        .env("BIND", format!("127.0.0.1:{port}"))
        .env("JWT_SECRET", crate::helpers::JWT_SECRET)
        .env("LOG_FORMAT", "json")
        .stderr(std::fs::File::create(&log_path).unwrap())
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    assert!(ready(&base).await);
    let client = reqwest::Client::new();
    let me = client
        .get(format!("{base}/api/v1/me"))
        .bearer_auth(&group.admin.token)
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), 200);
    let scrape = client.get(format!("{base}/metrics")).send().await.unwrap();
    assert_eq!(scrape.status(), 200);
    assert!(
        scrape.headers().get("allow").is_none(),
        "a scrape carries Allow"
    );
    assert!(scrape.text().await.unwrap().contains("http_requests_total"));
    terminate(&mut child);

    let log = std::fs::read_to_string(&log_path).unwrap();
    let lines: Vec<Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|_| panic!("not JSON: {l}")))
        .collect();
    let message = |l: &Value| l["fields"]["message"].as_str().unwrap_or("").to_owned();
    let access = |route: &str| -> Vec<&Value> {
        lines
            .iter()
            .filter(|l| message(l) == "request finished" && l["fields"]["http.route"] == route)
            .collect()
    };
    let me_lines = access("/api/v1/me");
    assert_eq!(me_lines.len(), 1, "{log}");
    assert_eq!(me_lines[0]["level"], "INFO");
    assert_eq!(me_lines[0]["fields"]["http.status_code"], 200);
    assert_eq!(me_lines[0]["fields"]["http.method"], "GET");
    assert!(me_lines[0]["fields"]["latency_ms"].is_string());
    assert!(!me_lines[0]["fields"]["request_id"]
        .as_str()
        .unwrap_or("")
        .is_empty());
    assert_eq!(access("/metrics").len(), 1, "{log}");
    assert!(
        lines
            .iter()
            .all(|l| l["level"] != "WARN" && l["level"] != "ERROR"),
        "{log}"
    );
    assert!(!log.contains(&group.admin.token), "the log holds a token");
    assert!(
        lines
            .iter()
            .any(|l| message(l) == "listening"
                && l["fields"]["address"] == format!("127.0.0.1:{port}")),
        "{log}"
    );
    assert!(
        lines.iter().any(|l| message(l).starts_with("stopped")),
        "{log}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
