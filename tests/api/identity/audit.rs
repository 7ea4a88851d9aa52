//! The audit log, bootstrap, and a company's currency once amounts exist.

use super::*;

#[tokio::test]
async fn changes_are_audited_and_the_audit_log_is_append_only() {
    let app = TestApp::spawn().await;
    let group = app.bootstrap().await;
    let abc = group.company("ABC").create().await;
    let abc_id = abc.id;
    let renamed = app
        .patch(
            &format!("/api/v1/companies/{abc_id}"),
            &group.admin,
            json!({"name": "ABC Manufacturing"}),
        )
        .await;
    let request_id = renamed
        .headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap()
        .to_owned();
    renamed.assert_status(200);

    let (finance, finance_token) = group
        .employee("fin@jkl.example")
        .roles(&["employee", "finance"])
        .create_viewed()
        .await;
    let events = app
        .get(
            &format!("/api/v1/audit-events?entity_type=company&entity_id={abc_id}"),
            &finance_token,
        )
        .await;
    let items = events.assert_status(200)["items"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(items.len(), 2);
    assert_eq!(items[0]["action"], "company.updated");
    assert_eq!(items[0]["before"]["name"], "ABC Inc.");
    assert_eq!(items[0]["after"]["name"], "ABC Manufacturing");
    assert_eq!(items[0]["actor_id"], json!(group.admin.id));
    assert_eq!(items[0]["request_id"], json!(request_id));
    assert_eq!(items[1]["action"], "company.created");

    let by_actor = app
        .get(
            &format!("/api/v1/audit-events?actor_id={}&limit=1", group.admin.id),
            &finance_token,
        )
        .await;
    let by_actor = by_actor.assert_status(200).clone();
    assert_eq!(by_actor["items"].as_array().map(Vec::len), Some(1));
    assert!(by_actor["next_cursor"].is_string());
    let employee_events = app
        .get(
            &format!("/api/v1/audit-events?entity_id={}", finance.id),
            &finance_token,
        )
        .await;
    let text = employee_events.assert_status(200).to_string();
    assert!(text.contains("employee.created") && !text.contains("argon2"));

    // The application's own database user cannot rewrite history.
    let mut conn = app.db.connect().await;
    let update = diesel::sql_query("UPDATE audit_events SET action = 'forged'")
        .execute(&mut conn)
        .await;
    assert!(update.is_err(), "UPDATE on audit_events must fail");
    let delete = diesel::sql_query("DELETE FROM audit_events")
        .execute(&mut conn)
        .await;
    assert!(delete.is_err(), "DELETE on audit_events must fail");
    let truncate = diesel::sql_query("TRUNCATE audit_events")
        .execute(&mut conn)
        .await;
    assert!(truncate.is_err(), "TRUNCATE on audit_events must fail");
}

#[tokio::test]
async fn bootstrap_creates_one_group_per_code_and_refuses_a_code_again() {
    let app = TestApp::spawn().await;
    let run = |code: &str, email: &str| {
        std::process::Command::new(env!("CARGO_BIN_EXE_internal-store"))
            .args([
                "bootstrap",
                "--group-code",
                code,
                "--group-name",
                "Some Holdings",
                "--currency",
                "USD",
            ])
            .args(["--admin-email", email])
            .env("BOOTSTRAP_ADMIN_PASSWORD", "first-admin-password")
            .env("DATABASE_URL", &app.db.url)
            .output()
            .unwrap()
    };
    let mut conn = app.db.connect().await;
    #[derive(diesel::QueryableByName)]
    struct Count {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let count = async |conn: &mut diesel_async::AsyncPgConnection, sql: &str| -> i64 {
        let rows: Vec<Count> = diesel::sql_query(sql).load(conn).await.unwrap();
        rows[0].n
    };

    let first = run("JKL", "first@jkl.example");
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let printed: Value = serde_json::from_slice(&first.stdout).unwrap();
    assert!(printed["company_id"].is_string() && printed["admin_id"].is_string());

    // Another code: a second, separate group with its own admin.
    let second = run("MNO", "first@mno.example");
    assert!(
        second.status.success(),
        "{}",
        String::from_utf8_lossy(&second.stderr)
    );
    let printed_second: Value = serde_json::from_slice(&second.stdout).unwrap();
    assert_ne!(printed_second["company_id"], printed["company_id"]);
    assert_eq!(
        count(
            &mut conn,
            "SELECT count(*) AS n FROM companies WHERE parent_id IS NULL AND group_id = id"
        )
        .await,
        2
    );

    // The same code again (with an unused email): non-zero, a clear message, nothing changed.
    let again = run("JKL", "someone-else@jkl.example");
    assert!(!again.status.success());
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("a group with the code JKL already exists"),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    assert_eq!(
        count(&mut conn, "SELECT count(*) AS n FROM companies").await,
        2
    );
    assert_eq!(
        count(&mut conn, "SELECT count(*) AS n FROM employees").await,
        2
    );
    assert_eq!(
        count(&mut conn, "SELECT count(*) AS n FROM audit_events").await,
        4
    );

    // Each first admin administers their own group only.
    let jkl_admin = app.token("first@jkl.example", "first-admin-password").await;
    let mno_admin = app.token("first@mno.example", "first-admin-password").await;
    let jkl_companies = app.get("/api/v1/companies", &jkl_admin).await;
    assert_eq!(
        jkl_companies.assert_status(200)["items"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(jkl_companies.body["items"][0]["code"], "JKL");
    app.get(
        &format!(
            "/api/v1/companies/{}",
            printed["company_id"].as_str().unwrap()
        ),
        &mno_admin,
    )
    .await
    .assert_problem(404, "not_found");
}

#[tokio::test]
async fn a_company_currency_is_fixed_once_amounts_are_recorded_in_it() {
    let app = TestApp::spawn().await;
    let group = app.bootstrap().await;
    let abc = group.company("ABC").create().await;
    let abc_path = format!("/api/v1/companies/{}", abc.id);
    // Nothing recorded yet: the currency may still be corrected.
    let changed = app
        .patch(&abc_path, &group.admin, json!({"currency": "EUR"}))
        .await;
    assert_eq!(changed.assert_status(200)["currency"], "EUR");

    let category = group.category("goods").await;
    group
        .product("ABC-1", &category, "10.00")
        .seller(&abc)
        .create()
        .await;
    app.patch(&abc_path, &group.admin, json!({"currency": "USD"}))
        .await
        .assert_problem(409, "conflict");
    // The same currency and other fields still go through.
    app.patch(
        &abc_path,
        &group.admin,
        json!({"currency": "EUR", "name": "ABC Manufacturing"}),
    )
    .await
    .assert_status(200);
    let after = app.get(&abc_path, &group.admin).await;
    assert_eq!(after.assert_status(200)["currency"], "EUR");
}
