//! `seed-demo` loads the documented demo group once; a second run adds nothing; and the README's
//! tour runs as written, twice in a row, on a fresh database.

use crate::helpers::TestApp;
use serde_json::Value;

#[tokio::test]
async fn seed_demo_is_idempotent_and_usable() {
    let app = TestApp::spawn().await;
    let run = || {
        std::process::Command::new(env!("CARGO_BIN_EXE_internal-store"))
            .arg("seed-demo")
            .env("DATABASE_URL", &app.db.url)
            .output()
            .unwrap()
    };
    let first = run();
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let first: Value = serde_json::from_slice(&first.stdout).unwrap();
    assert_eq!(first["group"], "created");
    assert_eq!(first["companies"], 3);
    assert_eq!(first["tiers"], 3);
    assert_eq!(first["employees"], 30);
    assert!(first["products"].as_u64().unwrap() >= 300, "{first}");
    assert_eq!(first["fx_rates"], 366);
    assert_eq!(first["transfer_pricing_policies"], 2);
    assert_eq!(first["intercompany_orders"], 8);
    assert_eq!(first["employee_orders"], 12);
    // Four on intercompany orders, six of the nine fulfilled employee orders.
    assert_eq!(first["feedback"], 10);
    let second: Value = serde_json::from_slice(&run().stdout).unwrap();
    assert_eq!(second["group"], "existing");
    assert_eq!(second["group_id"], first["group_id"]);
    for field in [
        "companies",
        "tiers",
        "categories",
        "employees",
        "products",
        "fx_rates",
        "transfer_pricing_policies",
        "intercompany_orders",
        "employee_orders",
        "feedback",
    ] {
        assert_eq!(second[field], 0, "second run added {field}");
    }

    // The README's walk-through: a commercial employee of ABC sees personal prices.
    let token = app
        .token("alex.operational@jkl.example", "demo-password-2026")
        .await;
    let me = app.get("/api/v1/me", &token).await;
    assert_eq!(me.assert_status(200)["allowance"]["cap"], "1000.00");
    let page = app
        .get("/api/v1/products?q=headphones&limit=5", &token)
        .await;
    let items = page.assert_status(200)["items"].as_array().unwrap().clone();
    assert!(!items.is_empty());
    for item in &items {
        assert_eq!(item["discount_percent"], "15");
        let list: rust_decimal::Decimal = item["list_price"].as_str().unwrap().parse().unwrap();
        let price: rust_decimal::Decimal =
            item["employee_price"].as_str().unwrap().parse().unwrap();
        assert!(price < list);
        assert_eq!(item["purchase_limit"]["period"], "year");
    }
    let admin = app
        .token("ada.admin@jkl.example", "demo-password-2026")
        .await;
    let companies = app.get("/api/v1/companies", &admin).await;
    let codes: Vec<&str> = companies.assert_status(200)["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["code"].as_str().unwrap())
        .collect();
    assert_eq!(codes, vec!["ABC", "JKL", "XYZ"]);

    // The intercompany walk-through: orders in every state; settled ones carry both legs,
    // the settlement and the realised FX difference.
    let petra = app
        .token("petra.purchaser@xyz.example", "demo-password-2026")
        .await;
    let orders = app
        .get("/api/v1/intercompany-orders?limit=100", &petra)
        .await;
    let orders = orders.assert_status(200)["items"]
        .as_array()
        .unwrap()
        .clone();
    let mut states: Vec<&str> = orders
        .iter()
        .map(|o| o["status"].as_str().unwrap())
        .collect();
    states.sort_unstable();
    states.dedup();
    assert_eq!(
        states,
        [
            "accepted",
            "cancelled",
            "rejected",
            "requested",
            "settled",
            "shipped"
        ]
    );
    let settled = orders.iter().find(|o| o["status"] == "settled").unwrap();
    let kinds: Vec<&str> = settled["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "receivable",
            "payable",
            "settlement",
            "settlement",
            "fx_difference"
        ]
    );
    assert_eq!(settled["lines"][0]["outside_arms_length_range"], true);
    let fiona = app
        .token("fiona.finance@jkl.example", "demo-password-2026")
        .await;
    let year = &settled["ship_date"].as_str().unwrap()[..4];
    let true_ups = app
        .get(
            &format!("/api/v1/transfer-pricing/true-ups?year={year}"),
            &fiona,
        )
        .await;
    assert!(!true_ups.assert_status(200)["items"]
        .as_array()
        .unwrap()
        .is_empty());
    // Feedback: XYZ's purchaser rated what ABC shipped (three orders, two answered), ABC's
    // purchaser what XYZ shipped, and employees six of their fulfilled orders; the KPIs of the
    // last four months (orders go back 60 days) count all of it and the twelve employee orders.
    let paul = app
        .token("paul.purchaser@abc.example", "demo-password-2026")
        .await;
    let received = app.get("/api/v1/feedback?limit=100", &paul).await;
    let received = received.assert_status(200)["items"]
        .as_array()
        .unwrap()
        .clone();
    let intercompany: Vec<&Value> = received
        .iter()
        .filter(|f| f["order_kind"] == "intercompany")
        .collect();
    assert_eq!(intercompany.len(), 3);
    assert_eq!(
        intercompany
            .iter()
            .filter(|f| !f["reply"].is_null())
            .count(),
        2
    );
    let abc_id = intercompany[0]["seller_company_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (mut abc_feedback, mut employee_orders, mut all_feedback) = (0, 0, 0);
    let mut month = chrono::Utc::now().date_naive();
    for _ in 0..4 {
        let period = month.format("%Y-%m").to_string();
        let report = app
            .get(
                &format!("/api/v1/kpis/internal-service?period={period}"),
                &admin,
            )
            .await;
        let report = report.assert_status(200).clone();
        for item in report["items"].as_array().unwrap() {
            if item["company_id"] == abc_id.as_str() {
                abc_feedback += item["feedback_count"].as_i64().unwrap();
            }
            employee_orders += item["employee_orders"].as_i64().unwrap();
            all_feedback += item["feedback_count"].as_i64().unwrap();
        }
        month = month - chrono::Months::new(1);
    }
    assert_eq!(abc_feedback, i64::try_from(received.len()).unwrap());
    assert_eq!(employee_orders, 12);
    assert_eq!(all_feedback, 10);
}

/// The README's tour: every ```sh block that a `<!-- tour -->` line introduces, in order.
fn tour_blocks(readme: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut lines = readme.lines();
    while let Some(line) = lines.next() {
        if line.trim() != "<!-- tour -->" {
            continue;
        }
        assert_eq!(
            lines.next().map(str::trim),
            Some("```sh"),
            "a tour marker without a block"
        );
        let block: Vec<&str> = lines.by_ref().take_while(|l| l.trim() != "```").collect();
        blocks.push(block.join("\n"));
    }
    blocks
}

/// Runs the tour once with bash against `host` (the server's `host:port`), `cargo run --release
/// --` standing for the binary the tests built. Answers stdout and the HTTP statuses seen.
fn run_tour(script: &str, database_url: &str, dir: &std::path::Path) -> (String, Vec<u16>) {
    let preamble = r#"set -e
cargo() {
  if [ "$1 $2 $3" != "run --release --" ]; then echo "unexpected: cargo $*" >&2; return 1; fi
  shift 3; "$INTERNAL_STORE" "$@"
}
curl() { command curl -w '%{stderr}HTTP %{http_code}\n' "$@"; }
"#;
    let output = std::process::Command::new("bash")
        .arg("-c")
        .arg(format!("{preamble}{script}"))
        .current_dir(dir)
        .env("DATABASE_URL", database_url)
        .env("INTERNAL_STORE", env!("CARGO_BIN_EXE_internal-store"))
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(
        output.status.success(),
        "the tour failed\n--- stdout\n{stdout}\n--- stderr\n{stderr}"
    );
    let statuses = stderr
        .lines()
        .filter_map(|l| l.strip_prefix("HTTP "))
        .map(|code| code.trim().parse().unwrap())
        .collect();
    (stdout, statuses)
}

#[tokio::test]
async fn the_readme_tour_runs_as_written_twice_in_a_row() {
    for tool in ["jq", "curl", "bash"] {
        let found = std::process::Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .output()
            .is_ok_and(|o| o.status.success());
        assert!(found, "the README tour needs {tool} (.ci/run installs it)");
    }
    let app = TestApp::spawn().await;
    let host = app.url("").trim_start_matches("http://").to_owned();
    let blocks = tour_blocks(include_str!("../../README.md"));
    assert_eq!(blocks.len(), 5, "the tour's blocks");
    let script = blocks.join("\n").replace("localhost:8080", &host);
    assert!(!script.contains("uuidgen"));
    let dir = std::env::temp_dir().join(format!("is-tour-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut conn = app.db.connect().await;
    #[derive(diesel::QueryableByName)]
    struct Count {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    for run in 1..=2_i64 {
        // On a blocking thread: the server answering the tour runs on this test's runtime.
        let (script, url, dir) = (script.clone(), app.db.url.clone(), dir.clone());
        let (stdout, statuses) = tokio::task::spawn_blocking(move || run_tour(&script, &url, &dir))
            .await
            .unwrap();
        assert!(statuses.len() > 30, "run {run}: {statuses:?}");
        assert!(
            statuses.iter().all(|s| (200..300).contains(s)),
            "run {run} met an error status: {statuses:?}\n{stdout}"
        );
        // Each run settled an order the demo shipped weeks ago: a realised FX difference.
        let realised: Count = diesel_async::RunQueryDsl::get_result(
            diesel::sql_query(
                "SELECT count(*) AS n FROM ledger_entries WHERE kind = 'fx_difference' \
                 AND amount <> 0 AND created_at > now() - interval '10 minutes'",
            ),
            &mut conn,
        )
        .await
        .unwrap();
        assert!(
            realised.n >= run,
            "run {run}: no realised FX difference\n{stdout}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
