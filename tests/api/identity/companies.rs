//! Companies: the group tree, pages, and the profile.

use super::*;

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
            json!({"code": "NEW", "name": "N", "parent_id": group.root_id, "currency": "XXX", "country": "US"}),
        )
        .await;
    invalid.assert_problem(422, "validation_failed");
    // A field that breaks its type's rule is refused as the body is read, naming it.
    assert_eq!(invalid.body["errors"][0]["field"], "currency");
    let invalid = app
        .post(
            "/api/v1/companies",
            &group.admin,
            json!({"code": "NEW", "name": "N", "parent_id": group.root_id, "currency": "USD", "country": "ZZ"}),
        )
        .await;
    invalid.assert_problem(422, "validation_failed");
    assert_eq!(invalid.body["errors"][0]["field"], "country");

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
