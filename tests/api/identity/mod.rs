//! Identity and access: tokens, roles, object-level visibility, login throttling, audit log.

mod audit;
mod companies;
mod throttle;

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
