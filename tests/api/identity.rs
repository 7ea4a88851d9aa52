//! Identity and access: tokens, roles, object-level visibility, login throttling, audit log.

use std::time::{Duration, Instant};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use internal_store::identity::dto::CompanyView;

use crate::helpers::{Api, Reply, TestApp, ADMIN_EMAIL, ADMIN_PASSWORD, JWT_SECRET};
use diesel_async::RunQueryDsl;
use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use serde_json::{json, Value};

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

fn sign(header: Header, claims: &Value, secret: &[u8]) -> String {
    encode(&header, claims, &EncodingKey::from_secret(secret)).unwrap()
}

fn unsigned(header: &Value, claims: &Value) -> String {
    format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    )
}

#[tokio::test]
async fn only_well_formed_tokens_with_the_pinned_algorithm_are_accepted() {
    let app = TestApp::spawn().await;
    let group = app.bootstrap().await;
    let sub = group.admin.id;
    let good = json!({"sub": sub, "iat": now(), "exp": now() + 600, "iss": "internal-store", "aud": "internal-store-api", "ver": 1});
    let secret = JWT_SECRET.as_bytes();

    let valid = sign(Header::new(Algorithm::HS256), &good, secret);
    app.get("/api/v1/me", &valid).await.assert_status(200);
    // Clock skew within the 5 s of leeway is tolerated.
    let mut skewed = good.clone();
    skewed["iat"] = json!(now() + 3);
    skewed["nbf"] = json!(now() + 3);
    skewed["exp"] = json!(now() + 603);
    let skewed = sign(Header::new(Algorithm::HS256), &skewed, secret);
    app.get("/api/v1/me", &skewed).await.assert_status(200);

    let mut forged: Vec<(&str, String)> = vec![
        (
            "alg none",
            unsigned(&json!({"alg": "none", "typ": "JWT"}), &good),
        ),
        (
            "wrong key",
            sign(
                Header::new(Algorithm::HS256),
                &good,
                b"another-secret-another-secret-another-secret",
            ),
        ),
        (
            "switched algorithm",
            sign(Header::new(Algorithm::HS512), &good, secret),
        ),
        ("garbage", "not.a.token".into()),
    ];
    let mut variants = Vec::new();
    let mut expired = good.clone();
    expired["exp"] = json!(now() - 3600);
    variants.push(("expired", expired));
    let mut no_exp = good.clone();
    no_exp.as_object_mut().unwrap().remove("exp");
    variants.push(("missing exp", no_exp));
    let mut string_exp = good.clone();
    string_exp["exp"] = json!((now() + 600).to_string());
    variants.push(("string exp", string_exp));
    let mut wrong_iss = good.clone();
    wrong_iss["iss"] = json!("someone-else");
    variants.push(("wrong iss", wrong_iss));
    let mut wrong_aud = good.clone();
    wrong_aud["aud"] = json!("another-api");
    variants.push(("wrong aud", wrong_aud));
    let mut no_sub = good.clone();
    no_sub.as_object_mut().unwrap().remove("sub");
    variants.push(("missing sub", no_sub));
    // §3: issued or valid only in the future (beyond 5 s of leeway), or living longer than
    // the configured lifetime (900 s here), or without the credential version.
    let mut future_iat = good.clone();
    future_iat["iat"] = json!(now() + 60);
    future_iat["exp"] = json!(now() + 660);
    variants.push(("iat in the future", future_iat));
    let mut future_nbf = good.clone();
    future_nbf["nbf"] = json!(now() + 60);
    variants.push(("nbf in the future", future_nbf));
    let mut ten_years = good.clone();
    ten_years["exp"] = json!(now() + 10 * 365 * 86_400);
    variants.push(("ten-year lifetime", ten_years));
    let mut long_ago = good.clone();
    long_ago["iat"] = json!(now() - 3600);
    variants.push(("lifetime beyond the configured one", long_ago));
    let mut no_version = good.clone();
    no_version.as_object_mut().unwrap().remove("ver");
    variants.push(("missing ver", no_version));
    let mut old_version = good.clone();
    old_version["ver"] = json!(0);
    variants.push(("older credential version", old_version));
    for (name, claims) in variants {
        forged.push((name, sign(Header::new(Algorithm::HS256), &claims, secret)));
    }
    for (name, token) in forged {
        // Both ways a request is authenticated: the extractor that loads the employee, and
        // the listing, which takes the employee from its cache.
        for path in ["/api/v1/me", "/api/v1/products"] {
            let reply = app.get(path, &token).await;
            assert_eq!(
                reply.status.as_u16(),
                401,
                "{name} should be refused on {path}"
            );
            reply.assert_problem(401, "unauthorized");
        }
    }
    let anonymous = app
        .send(reqwest::Method::GET, "/api/v1/me", None, None)
        .await;
    anonymous.assert_problem(401, "unauthorized");
}

/// §3: a token stops working when its employee's password changes, when they are deactivated
/// (reactivation does not revive it) and when they lose a role — also where the employee comes
/// from the listing cache, not the database.
#[tokio::test]
async fn tokens_die_with_their_credentials() {
    let app = TestApp::spawn().await;
    let group = app.bootstrap().await;
    let (employee, first) = group
        .employee("emp@jkl.example")
        .roles(&["employee", "finance"])
        .create_viewed()
        .await;
    let first = first.token;
    let path = format!("/api/v1/employees/{}", employee.id);
    let works = |token: String| {
        let app = &app;
        async move {
            app.get("/api/v1/me", &token).await.assert_status(200);
            // Twice, so the second answer comes from the listing cache.
            app.get("/api/v1/products", &token).await.assert_status(200);
            app.get("/api/v1/products", &token).await.assert_status(200);
        }
    };
    let refused = |token: String, why: &'static str| {
        let app = &app;
        async move {
            for path in ["/api/v1/me", "/api/v1/products", "/api/v1/employees"] {
                let reply = app.get(path, &token).await;
                assert_eq!(reply.status.as_u16(), 401, "{why}: {path} {}", reply.body);
                reply.assert_problem(401, "unauthorized");
            }
        }
    };
    works(first.clone()).await;

    // A new password (set by an admin) ends the old token; the new password signs in.
    app.patch(
        &path,
        &group.admin,
        json!({"password": "a-brand-new-password"}),
    )
    .await
    .assert_status(200);
    refused(first, "after a password change").await;
    let second = app.token("emp@jkl.example", "a-brand-new-password").await;
    works(second.clone()).await;

    // Deactivation ends it, and reactivation does not bring it back.
    app.patch(&path, &group.admin, json!({"active": false}))
        .await
        .assert_status(200);
    app.patch(&path, &group.admin, json!({"active": true}))
        .await
        .assert_status(200);
    refused(second, "after deactivation and reactivation").await;
    let third = app.token("emp@jkl.example", "a-brand-new-password").await;
    works(third.clone()).await;
    app.get("/api/v1/employees", &third)
        .await
        .assert_status(200);

    // Gaining a role keeps the token; losing one ends it.
    app.patch(
        &path,
        &group.admin,
        json!({"roles": ["employee", "finance", "purchaser"]}),
    )
    .await
    .assert_status(200);
    works(third.clone()).await;
    app.patch(
        &path,
        &group.admin,
        json!({"roles": ["employee", "purchaser"]}),
    )
    .await
    .assert_status(200);
    refused(third, "after losing the finance role").await;
    let fourth = app.token("emp@jkl.example", "a-brand-new-password").await;
    works(fourth.clone()).await;
    app.get("/api/v1/employees", &fourth)
        .await
        .assert_problem(403, "forbidden");
}

#[tokio::test]
async fn roles_and_deactivation_are_enforced_at_once() {
    let app = TestApp::spawn().await;
    let group = app.bootstrap().await;
    let (employee, token) = group
        .employee("emp@jkl.example")
        .roles(&["employee"])
        .create_viewed()
        .await;

    app.get("/api/v1/employees", &token)
        .await
        .assert_problem(403, "forbidden");
    app.post(
        "/api/v1/companies",
        &token,
        json!({"code": "X", "name": "X", "parent_id": group.root_id, "currency": "USD", "country": "US"}),
    )
    .await
    .assert_problem(403, "forbidden");
    app.get("/api/v1/audit-events", &token)
        .await
        .assert_problem(403, "forbidden");
    // Their own record is visible, another's is not even acknowledged.
    let id = employee.id;
    app.get(&format!("/api/v1/employees/{id}"), &token)
        .await
        .assert_status(200);
    app.get(&format!("/api/v1/employees/{}", group.admin.id), &token)
        .await
        .assert_problem(404, "not_found");

    app.patch(
        &format!("/api/v1/employees/{id}"),
        &group.admin,
        json!({"active": false}),
    )
    .await
    .assert_status(200);
    app.get("/api/v1/me", &token)
        .await
        .assert_problem(401, "unauthorized");
    app.login("emp@jkl.example", "employee-password-1")
        .await
        .assert_problem(401, "unauthorized");
}

#[tokio::test]
async fn employee_rules_duplicate_email_short_password_unknown_fields() {
    let app = TestApp::spawn().await;
    let group = app.bootstrap().await;
    group
        .employee("Case@JKL.example")
        .roles(&["employee"])
        .create()
        .await;
    let base = json!({
        "email": "case@jkl.EXAMPLE", "full_name": "Dup", "company_id": group.root_id,
        "employment_type": "direct", "client_type": "commercial", "password": "long-enough-password"
    });
    app.post("/api/v1/employees", &group.admin, base.clone())
        .await
        .assert_problem(409, "conflict");

    let mut short = base.clone();
    short["email"] = json!("short@jkl.example");
    short["password"] = json!("too-short");
    let reply = app.post("/api/v1/employees", &group.admin, short).await;
    reply.assert_problem(422, "validation_failed");
    assert_eq!(reply.body["errors"][0]["field"], "password");

    let mut smuggled = base.clone();
    smuggled["email"] = json!("smuggle@jkl.example");
    smuggled["password_hash"] = json!("$argon2id$...");
    app.post("/api/v1/employees", &group.admin, smuggled)
        .await
        .assert_problem(422, "validation_failed");

    let mut no_company = base.clone();
    no_company["email"] = json!("nocompany@jkl.example");
    no_company["company_id"] = json!(uuid::Uuid::new_v4());
    let reply = app
        .post("/api/v1/employees", &group.admin, no_company)
        .await;
    reply.assert_problem(422, "validation_failed");
    assert_eq!(reply.body["errors"][0]["field"], "company_id");

    // No response carries a password hash.
    let list = app.get("/api/v1/employees", &group.admin).await;
    let text = list.assert_status(200).to_string();
    assert!(
        !text.contains("argon2") && !text.contains("password"),
        "{text}"
    );
}

#[tokio::test]
async fn the_last_admin_cannot_be_removed() {
    let app = TestApp::spawn().await;
    let group = app.bootstrap().await;
    let reply = app
        .patch(
            &format!("/api/v1/employees/{}", group.admin.id),
            &group.admin,
            json!({"roles": ["employee"]}),
        )
        .await;
    reply.assert_problem(409, "conflict");
    app.get("/api/v1/employees", &group.admin)
        .await
        .assert_status(200);
}

#[tokio::test]
async fn companies_form_a_group_tree_without_cycles() {
    let app = TestApp::spawn().await;
    let group = app.bootstrap().await;
    let abc = group.company("ABC").create().await;
    let xyz = group.company("XYZ").currency("EUR").create().await;
    let abc_sub = group.company("ABC-SUB").parent(&abc).create().await;
    assert_eq!(abc.group_id, group.root_id);
    assert_eq!(abc_sub.group_id, group.root_id);
    assert_eq!(xyz.currency, "EUR");

    // Cycles and unknown parents are 422.
    let cycle = app
        .patch(
            &format!("/api/v1/companies/{}", abc.id),
            &group.admin,
            json!({"parent_id": abc_sub.id}),
        )
        .await;
    cycle.assert_problem(422, "validation_failed");
    assert_eq!(cycle.body["errors"][0]["field"], "parent_id");
    app.patch(
        &format!("/api/v1/companies/{}", group.root_id),
        &group.admin,
        json!({"parent_id": group.root_id}),
    )
    .await
    .assert_problem(422, "validation_failed");
    app.post(
        "/api/v1/companies",
        &group.admin,
        json!({"code": "ORPHAN", "name": "Orphan", "parent_id": uuid::Uuid::new_v4(), "currency": "USD", "country": "US"}),
    )
    .await
    .assert_problem(422, "validation_failed");
    // Bad codes and a duplicate code.
    app.post(
        "/api/v1/companies",
        &group.admin,
        json!({"code": "ABC", "name": "Again", "parent_id": group.root_id, "currency": "USD", "country": "US"}),
    )
    .await
    .assert_problem(409, "conflict");
    let invalid = app
        .post(
            "/api/v1/companies",
            &group.admin,
            json!({"code": "NEW", "name": "N", "parent_id": group.root_id, "currency": "XXX", "country": "ZZ"}),
        )
        .await;
    invalid.assert_problem(422, "validation_failed");
    assert_eq!(invalid.body["errors"].as_array().map(Vec::len), Some(2));

    // A new group comes only from bootstrap: no parent, or another group's company as the
    // parent, is a 422 naming `parent_id`; a company cannot become a root either.
    let other_group = app
        .bootstrap_group("OTHER", "GBP", "admin@other.example")
        .await;
    let other = app
        .get(
            &format!("/api/v1/companies/{}", other_group.root_id),
            &other_group.admin,
        )
        .await
        .typed::<CompanyView>(200);
    assert_eq!(other.group_id, other.id);
    for body in [
        json!({"code": "ROOTLESS", "name": "R", "currency": "USD", "country": "US"}),
        json!({"code": "ROOTLESS", "name": "R", "parent_id": other.id, "currency": "USD", "country": "US"}),
    ] {
        let refused = app.post("/api/v1/companies", &group.admin, body).await;
        refused.assert_problem(422, "validation_failed");
        assert_eq!(refused.body["errors"][0]["field"], "parent_id");
    }
    app.post(
        "/api/v1/companies",
        &group.admin,
        json!({"code": "ROOTLESS", "name": "R", "parent_id": null, "currency": "USD", "country": "US"}),
    )
    .await
    .assert_problem(422, "validation_failed");
    for parent in [json!(null), json!(other.id)] {
        let refused = app
            .patch(
                &format!("/api/v1/companies/{}", abc.id),
                &group.admin,
                json!({ "parent_id": parent }),
            )
            .await;
        refused.assert_problem(422, "validation_failed");
        assert_eq!(refused.body["errors"][0]["field"], "parent_id");
    }
    // Moving within the group keeps the subtree in it.
    let moved = app
        .patch(
            &format!("/api/v1/companies/{}", abc.id),
            &group.admin,
            json!({"parent_id": xyz.id}),
        )
        .await;
    assert_eq!(moved.typed::<CompanyView>(200).parent_id, Some(xyz.id));
    let sub = app
        .get(&format!("/api/v1/companies/{}", abc_sub.id), &group.admin)
        .await;
    assert_eq!(sub.typed::<CompanyView>(200).group_id, group.root_id);
    // Nor does JKL's admin see the other group's root.
    app.get(
        &format!("/api/v1/companies/{}", other_group.root_id),
        &group.admin,
    )
    .await
    .assert_problem(404, "not_found");

    // An employee of JKL sees JKL's group only; OTHER's companies are 404 to them.
    let token = group
        .employee("viewer@jkl.example")
        .roles(&["employee"])
        .create()
        .await;
    let visible = app.get("/api/v1/companies", &token).await;
    let codes: Vec<&str> = visible.assert_status(200)["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["code"].as_str().unwrap())
        .collect();
    assert_eq!(codes, vec!["ABC", "ABC-SUB", "JKL", "XYZ"]);
    app.get(&format!("/api/v1/companies/{}", other.id), &token)
        .await
        .assert_problem(404, "not_found");
}

#[tokio::test]
async fn company_list_pages_visit_every_company_once() {
    let app = TestApp::spawn().await;
    let group = app.bootstrap().await;
    for code in ["A1", "A2", "A3", "A4", "A5"] {
        group.company(code).create().await;
    }
    let mut seen = Vec::new();
    let mut path = "/api/v1/companies?limit=2".to_owned();
    loop {
        let page = app
            .get(&path, &group.admin)
            .await
            .assert_status(200)
            .clone();
        seen.extend(
            page["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c["code"].as_str().unwrap().to_owned()),
        );
        match page["next_cursor"].as_str() {
            Some(cursor) => path = format!("/api/v1/companies?limit=2&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(seen, vec!["A1", "A2", "A3", "A4", "A5", "JKL"]);
}

#[tokio::test]
async fn me_shows_the_profile_and_allowance() {
    let app = TestApp::spawn().await;
    let group = app.bootstrap().await;
    let me = app.get("/api/v1/me", &group.admin).await;
    let me = me.assert_status(200);
    assert_eq!(me["email"], ADMIN_EMAIL);
    assert_eq!(me["roles"], json!(["admin", "employee"]));
    assert_eq!(me["allowance"]["currency"], "USD");
    assert_eq!(me["allowance"]["used"], "0.00");
    assert!(me["allowance"]["cap"].is_null() && me["allowance"]["remaining"].is_null());
}

#[tokio::test]
async fn unknown_email_and_wrong_password_look_and_time_the_same() {
    let app = TestApp::spawn_with(&[
        ("LOGIN_MAX_FAILURES_PER_ACCOUNT_ADDRESS", "1000"),
        ("LOGIN_MAX_FAILURES_PER_ADDRESS", "1000"),
    ])
    .await;
    app.bootstrap().await;
    // Warm up (the dummy hash is computed on first use).
    app.login("nobody@jkl.example", "whatever-password").await;
    let mut unknown = Vec::new();
    let mut wrong = Vec::new();
    let mut bodies = Vec::new();
    for _ in 0..15 {
        let started = Instant::now();
        let reply = app.login("nobody@jkl.example", "whatever-password").await;
        unknown.push(started.elapsed());
        bodies.push(reply.body.clone());
        reply.assert_problem(401, "unauthorized");
        let started = Instant::now();
        let reply = app.login(ADMIN_EMAIL, "not-the-password").await;
        wrong.push(started.elapsed());
        bodies.push(reply.body.clone());
        reply.assert_problem(401, "unauthorized");
    }
    assert!(bodies.windows(2).all(|w| w[0] == w[1]), "401 bodies differ");
    // The fastest of each: other tests hashing passwords on the same two cores only ever add
    // time, so minima show the work each path does, where medians also show the neighbours.
    let fastest = |v: Vec<Duration>| v.into_iter().min().unwrap_or_default().as_secs_f64();
    let (unknown, wrong) = (fastest(unknown), fastest(wrong));
    let ratio = unknown / wrong;
    assert!(
        (0.8..=1.2).contains(&ratio),
        "fastest unknown {unknown:.4}s vs wrong {wrong:.4}s (ratio {ratio:.2})"
    );
}

#[tokio::test]
async fn repeated_failures_are_throttled_until_the_window_ends() {
    let app = TestApp::spawn_with(&[
        ("LOGIN_THROTTLE_WINDOW_SECS", "3"),
        ("LOGIN_MAX_FAILURES_PER_ADDRESS", "1000"),
    ])
    .await;
    app.bootstrap().await;
    let mut statuses = Vec::new();
    let mut retry_after = None;
    for _ in 0..30 {
        let reply = app.login(ADMIN_EMAIL, "wrong-password-guess").await;
        if reply.status.as_u16() == 429 {
            reply.assert_problem(429, "rate_limited");
            retry_after = reply
                .headers
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
        }
        statuses.push(reply.status.as_u16());
    }
    assert!(statuses.contains(&429), "{statuses:?}");
    assert!(retry_after.is_some_and(|s| s.parse::<u64>().is_ok_and(|n| (1..=3).contains(&n))));
    // Even the right password is refused while throttled…
    app.login(ADMIN_EMAIL, ADMIN_PASSWORD)
        .await
        .assert_problem(429, "rate_limited");
    // …and works again once the window is over.
    tokio::time::sleep(Duration::from_millis(3200)).await;
    app.login(ADMIN_EMAIL, ADMIN_PASSWORD)
        .await
        .assert_status(200);
}

/// A login attempt that a trusted proxy forwards for `client`.
async fn login_from(api: &Api, client: &str, email: &str, password: &str) -> Reply {
    let response = api
        .client
        .post(format!("{}/api/v1/auth/login", api.address))
        .header("x-forwarded-for", client)
        .json(&json!({"email": email, "password": password}))
        .send()
        .await
        .unwrap();
    TestApp::decode(response).await
}

/// §3: ten failures from one address cannot lock the owner out (they sign in at once from an
/// address with no recent failures), while guessing one account from thirty addresses is
/// still slowed: 429s, or ten seconds or more in all.
#[tokio::test]
async fn the_owner_gets_in_after_failures_elsewhere_while_spread_guessing_is_slowed() {
    let app = TestApp::spawn_with(&[("TRUSTED_PROXIES", "127.0.0.1/32")]).await;
    let group = app.bootstrap().await;

    for _ in 0..10 {
        login_from(
            &app.api(),
            "198.51.100.1",
            ADMIN_EMAIL,
            "wrong-password-guess",
        )
        .await
        .assert_problem(401, "unauthorized");
    }
    // The guessing address is blocked for this account, even with the right password…
    login_from(
        &app.api(),
        "198.51.100.1",
        ADMIN_EMAIL,
        "wrong-password-guess",
    )
    .await
    .assert_problem(429, "rate_limited");
    login_from(&app.api(), "198.51.100.1", ADMIN_EMAIL, ADMIN_PASSWORD)
        .await
        .assert_problem(429, "rate_limited");
    // …and the owner, elsewhere, gets in at once.
    let started = Instant::now();
    login_from(&app.api(), "203.0.113.7", ADMIN_EMAIL, ADMIN_PASSWORD)
        .await
        .assert_status(200);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );

    // Thirty guesses at another account from thirty addresses within a minute.
    group
        .employee("target@jkl.example")
        .roles(&["employee"])
        .create()
        .await;
    let started = Instant::now();
    let mut statuses = Vec::new();
    for n in 0..30 {
        let reply = login_from(
            &app.api(),
            &format!("192.0.2.{}", n + 1),
            "target@jkl.example",
            "wrong-password-guess",
        )
        .await;
        if reply.status.as_u16() == 429 {
            reply.assert_problem(429, "rate_limited");
            assert!(reply.headers.contains_key("retry-after"));
        } else {
            reply.assert_problem(401, "unauthorized");
        }
        statuses.push(reply.status.as_u16());
    }
    let elapsed = started.elapsed();
    assert!(
        statuses.contains(&429) || elapsed >= Duration::from_secs(10),
        "30 spread guesses took {elapsed:?} without a 429: {statuses:?}"
    );
    // Only a handful of those guesses were checked against the password at all.
    let checked = statuses.iter().filter(|s| **s == 401).count();
    assert!(
        checked as u64 <= 3 + elapsed.as_secs() + 1,
        "{checked} guesses checked in {elapsed:?}: {statuses:?}"
    );
}

/// Without a trusted proxy, `X-Forwarded-For` is the caller's own words: varying it does not
/// make a guesser a new address.
#[tokio::test]
async fn a_spoofed_forwarded_for_does_not_escape_the_throttle() {
    let app = TestApp::spawn_with(&[("LOGIN_ACCOUNT_PACE_MS", "100")]).await;
    app.bootstrap().await;
    for n in 1..=10 {
        login_from(
            &app.api(),
            &format!("198.51.100.{n}"),
            ADMIN_EMAIL,
            "wrong-password-guess",
        )
        .await
        .assert_problem(401, "unauthorized");
    }
    // Were the header believed, this would be a clean address (and the pace long free).
    tokio::time::sleep(Duration::from_millis(300)).await;
    login_from(&app.api(), "198.51.100.99", ADMIN_EMAIL, ADMIN_PASSWORD)
        .await
        .assert_problem(429, "rate_limited");
}

/// Under the per-account pace, guesses racing from many addresses share one slot: at most one
/// of them reaches the password check.
#[tokio::test]
async fn racing_guesses_under_the_pace_get_one_password_check() {
    let app = TestApp::spawn_with(&[
        ("TRUSTED_PROXIES", "127.0.0.1/32"),
        ("LOGIN_ACCOUNT_PACE_MS", "60000"),
    ])
    .await;
    app.bootstrap().await;
    for n in 1..=3 {
        login_from(
            &app.api(),
            &format!("192.0.2.{n}"),
            ADMIN_EMAIL,
            "wrong-password-guess",
        )
        .await
        .assert_problem(401, "unauthorized");
    }
    let statuses = crate::helpers::race((10..30).map(|n| {
        let api = app.api();
        async move {
            login_from(
                &api,
                &format!("192.0.2.{n}"),
                ADMIN_EMAIL,
                "wrong-password-guess",
            )
            .await
            .status
            .as_u16()
        }
    }))
    .await;
    let checked = statuses.iter().filter(|s| **s == 401).count();
    assert!(checked <= 1, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == 429).count(), 20 - checked);
}

#[tokio::test]
async fn many_failures_from_one_address_are_throttled_across_accounts() {
    let app = TestApp::spawn_with(&[("LOGIN_MAX_FAILURES_PER_ADDRESS", "5")]).await;
    app.bootstrap().await;
    for n in 0..5 {
        app.login(&format!("user{n}@jkl.example"), "wrong-password-guess")
            .await
            .assert_problem(401, "unauthorized");
    }
    app.login("someone-else@jkl.example", "wrong-password-guess")
        .await
        .assert_problem(429, "rate_limited");
}

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
