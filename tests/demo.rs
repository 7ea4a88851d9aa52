//! `seed-demo` loads the documented demo group once; a second run adds nothing, and the
//! README's walk-through (log in as a demo employee, list personal prices) works.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::TestApp;
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
    assert_eq!(first["companies"], 3);
    assert_eq!(first["tiers"], 3);
    assert_eq!(first["employees"], 30);
    assert!(first["products"].as_u64().unwrap() >= 300, "{first}");
    let second: Value = serde_json::from_slice(&run().stdout).unwrap();
    for field in ["companies", "tiers", "categories", "employees", "products"] {
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
}
