//! Every operation as every role of another group; codes reused across groups.

use super::*;

#[tokio::test]
async fn no_role_of_one_group_reaches_anything_of_another_through_any_operation() {
    let app = TestApp::spawn().await;
    let a = populate(&app, "JKL", "jkl.example").await;
    let b = populate(&app, "MNO", "mno.example").await;
    let mut conn = app.db.connect().await;
    let before = snapshot(&mut conn, &a.group.root_id.to_string()).await;
    let a_ids = ids_of(&mut conn, &a.group.root_id.to_string()).await;
    assert!(a_ids.len() >= 10, "group A holds one of every object");
    let doc = serde_json::to_value(internal_store::openapi::document()).unwrap();
    let ops = operations(&doc);
    assert!(ops.len() >= 25, "the document lists every operation");

    let mut key = 0;
    let mut failures = Vec::new();
    let foreign = Generator {
        doc: &doc,
        tenant: &a,
        counter: std::cell::Cell::new(0),
    };
    for (method, template, operation) in &ops {
        for attempt in attempts(&foreign, template, operation, &a) {
            for (role, token) in &b.members {
                key += 1;
                let (status, body) = call(&app, method, &attempt, token, key).await;
                let what = format!("{method} {} as B's {role} → {status}", attempt.path);
                if status >= 500 {
                    failures.push(format!("{what}: server error {body}"));
                }
                if attempt.targets_other && (200..300).contains(&status) {
                    failures.push(format!("{what}: succeeded on group A's object"));
                }
                if (200..300).contains(&status) {
                    if let Some(leaked) = a_ids.iter().find(|id| body.contains(id.as_str())) {
                        failures.push(format!("{what}: response holds group A's id {leaked}"));
                    }
                }
            }
        }
    }
    // The same walk without any query: every list of group B is free of group A.
    for (method, template, _) in ops
        .iter()
        .filter(|(m, t, _)| *m == Method::GET && !t.contains('{'))
    {
        for (role, token) in &b.members {
            let bare = Attempt {
                path: template.clone(),
                query: Vec::new(),
                body: None,
                targets_other: false,
            };
            key += 1;
            let (status, body) = call(&app, method, &bare, token, key).await;
            if let Some(leaked) = a_ids.iter().find(|id| body.contains(id.as_str())) {
                failures.push(format!(
                    "{method} {template} as B's {role} → {status}: holds group A's id {leaked}"
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert_eq!(
        snapshot(&mut conn, &a.group.root_id.to_string()).await,
        before,
        "group A's rows changed"
    );

    // Control: the same bodies with group B's own ids are well formed and find their objects,
    // so the refusals above come from the group boundary, not from a bad request.
    let own = Generator {
        doc: &doc,
        tenant: &b,
        counter: std::cell::Cell::new(10_000),
    };
    let mut control_failures = Vec::new();
    for (method, template, operation) in &ops {
        for attempt in attempts(&own, template, operation, &b).into_iter().take(1) {
            key += 1;
            let (status, body) = call(&app, method, &attempt, &b.group.admin.token, key).await;
            if status >= 500 || [400, 404, 422].contains(&status) {
                control_failures.push(format!(
                    "{method} {} with B's own ids as B's first admin → {status}: {body}",
                    attempt.path
                ));
            }
        }
    }
    assert!(
        control_failures.is_empty(),
        "{}",
        control_failures.join("\n")
    );
    assert_eq!(
        snapshot(&mut conn, &a.group.root_id.to_string()).await,
        before,
        "group A's rows changed"
    );
}

#[tokio::test]
async fn a_second_group_reuses_the_first_groups_codes() {
    let app = TestApp::spawn().await;
    let a = populate(&app, "JKL", "jkl.example").await;
    // `populate` creates company ABC, category gadgets, tier staff and sku WIDGET-1 again.
    let b = populate(&app, "MNO", "mno.example").await;
    for kind in ["company", "category", "tier", "product"] {
        assert_ne!(a.id(kind), b.id(kind));
    }
    let product = app
        .get(
            &format!("/api/v1/products/{}", b.id("product")),
            &b.group.admin,
        )
        .await;
    assert_eq!(product.typed::<ProductView>(200).sku, "WIDGET-1");
    // Within one group a code is still unique.
    app.post(
        "/api/v1/categories",
        &b.group.admin,
        json!({"code": "gadgets", "name": "Again"}),
    )
    .await
    .assert_problem(409, "conflict");
    // A group's root code stays unique across the database (it names the group).
    app.post(
        "/api/v1/companies",
        &b.group.admin,
        json!({"code": "JKL", "name": "Same code as A's root, below B's root",
               "parent_id": b.group.root_id, "currency": "USD", "country": "US"}),
    )
    .await
    .assert_status(201);
}
