//! Login: one answer for every failure, and the throttle.

use super::*;

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
    // 30 of each: under the whole suite, 15 once left the wrong-password path without a single
    // uncontended sample (its failure record waits on a commit the busy server delays).
    for _ in 0..30 {
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

/// A guesser who spends one address's ten failures and moves on is paced from the second
/// address: the account's failures count, not only how many addresses they came from.
#[tokio::test]
async fn moving_on_after_an_addresses_ten_failures_meets_the_pace() {
    let app = TestApp::spawn_with(&[
        ("TRUSTED_PROXIES", "127.0.0.1/32"),
        ("LOGIN_ACCOUNT_PACE_MS", "60000"),
    ])
    .await;
    app.bootstrap().await;
    for _ in 0..10 {
        login_from(&app.api(), "192.0.2.1", ADMIN_EMAIL, "wrong-password-guess")
            .await
            .assert_problem(401, "unauthorized");
    }
    // The eleventh failure comes from a second address; from then on one guess a minute.
    for _ in 0..2 {
        login_from(&app.api(), "192.0.2.2", ADMIN_EMAIL, "wrong-password-guess")
            .await
            .assert_problem(401, "unauthorized");
    }
    let paced = login_from(&app.api(), "192.0.2.2", ADMIN_EMAIL, "wrong-password-guess").await;
    paced.assert_problem(429, "rate_limited");
    assert!(paced.headers.contains_key("retry-after"));
}
