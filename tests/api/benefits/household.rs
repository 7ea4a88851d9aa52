//! The household (§5): a spouse's order is the employee's, priced, limited and taxed as theirs;
//! former employees keep shopping with their tier.

use super::*;
use crate::helpers::actors::EMPLOYEE_PASSWORD;

#[tokio::test]
async fn a_spouses_order_is_priced_limited_and_taxed_as_the_employees_own() {
    let shop = Shop::open("USD").await;
    let us = shop
        .company(
            "US",
            json!({"benefit_tax_rule": "us_irc_132",
                               "qualified_discount_gp_percent": "35"}),
        )
        .await;
    let watch = shop
        .group
        .product("WATCH", &shop.category, "200.00")
        .seller(us)
        .limit(1, "year")
        .create()
        .await;
    let tier = shop
        .group
        .tier("staff", "20")
        .allowance("100.00")
        .create()
        .await;
    let ada = shop.employee("ada@us.example", us, &tier).await;
    let bob = shop.employee("bob@us.example", us, &tier).await;

    let sam: Value = ada
        .post(
            "/api/v1/me/household",
            json!({"full_name": "Sam Lovelace", "relationship": "spouse"}),
        )
        .await
        .assert_status(201)
        .clone();
    let sam_id = sam["id"].as_str().unwrap().to_owned();
    assert_eq!(
        ada.get("/api/v1/me/household").await.assert_status(200)["items"][0]["id"],
        sam_id
    );
    // A dependent child joins; the list pages like every list, oldest first.
    let kim = ada
        .post(
            "/api/v1/me/household",
            json!({"full_name": "Kim Lovelace", "relationship": "dependent_child"}),
        )
        .await;
    let kim_id = kim.assert_status(201)["id"].clone();
    let first = ada.get("/api/v1/me/household?limit=1").await;
    let first = first.assert_status(200);
    assert_eq!(first["items"].as_array().unwrap().len(), 1);
    assert_eq!(first["items"][0]["id"], sam_id);
    let cursor = first["next_cursor"].as_str().unwrap();
    let second = ada
        .get(&format!("/api/v1/me/household?limit=1&cursor={cursor}"))
        .await;
    let second = second.assert_status(200);
    assert_eq!(second["items"][0]["id"], kim_id);
    assert_eq!(second["items"][0]["relationship"], "dependent_child");
    assert_eq!(second["next_cursor"], Value::Null);
    ada.get("/api/v1/me/household?limit=0")
        .await
        .assert_problem(400, "validation_failed");
    ada.delete(&format!(
        "/api/v1/me/household/{}",
        kim_id.as_str().unwrap()
    ))
    .await
    .assert_status(204);
    // Only Ada's household sees Sam: Bob can neither quote nor order for him.
    let for_sam =
        json!({"lines": [{"product_id": watch.id, "quantity": 1}], "for_member_id": sam_id});
    bob.post("/api/v1/orders/quote", for_sam.clone())
        .await
        .assert_problem(422, "validation_failed");
    let refused = bob
        .post_keyed("/api/v1/orders", "b1", for_sam.clone())
        .await;
    refused.assert_problem(422, "validation_failed");
    assert_eq!(refused.field(), "for_member_id");
    assert_eq!(
        bob.get("/api/v1/me/household").await.assert_status(200)["items"],
        json!([])
    );

    // Ada's quote for Sam shows him, as the order will.
    let quoted = ada.post("/api/v1/orders/quote", for_sam.clone()).await;
    let quoted = quoted.assert_status(200);
    assert_eq!(quoted["for_member_id"], sam_id);
    // A quote is the order but for its id, number and status: it says when it was priced.
    assert!(quoted["created_at"]
        .as_str()
        .is_some_and(|at| at.ends_with('Z')));
    assert!(quoted.get("id").is_none() && quoted.get("status").is_none());
    // Ada buys the watch for Sam: 20 % off, charged to Ada's allowance and purchase limit.
    let order: Value = ada
        .post_keyed("/api/v1/orders", "a1", for_sam.clone())
        .await
        .assert_status(201)
        .clone();
    assert_eq!(order["for_member_id"], sam_id);
    assert_eq!(order["employee_id"], json!(ada.id));
    assert_eq!(order["discount_total"], "40.00");
    assert_eq!(ada.me().await.allowance.remaining.as_deref(), Some("60.00"));
    ada.post_keyed(
        "/api/v1/orders",
        "a2",
        json!({"lines": [{"product_id": watch.id, "quantity": 1}]}),
    )
    .await
    .assert_problem(409, "purchase_limit_exceeded");

    // Fulfilled, it is Ada's benefit: 40 of discount, within 35 % of 200, all excluded.
    let id = order["id"].as_str().unwrap();
    shop.group
        .admin
        .post(&format!("/api/v1/orders/{id}/fulfil"), json!({}))
        .await
        .assert_status(200);
    let item = shop.item(&ada).await;
    assert_eq!(split(&item), ("40.00", "40.00", "0.00"));
    assert_eq!(item["orders"], 1);

    // Removed, Sam can no longer be named; the order keeps naming him.
    ada.delete(&format!("/api/v1/me/household/{sam_id}"))
        .await
        .assert_status(204);
    ada.delete(&format!("/api/v1/me/household/{sam_id}"))
        .await
        .assert_problem(404, "not_found");
    ada.post_keyed("/api/v1/orders", "a3", for_sam)
        .await
        .assert_problem(422, "validation_failed");
    assert_eq!(
        ada.get(&format!("/api/v1/orders/{id}"))
            .await
            .assert_status(200)["for_member_id"],
        sam_id
    );
    assert_eq!(
        ada.get("/api/v1/me/household").await.assert_status(200)["items"],
        json!([])
    );
}

#[tokio::test]
async fn a_retired_employee_keeps_shopping_with_their_tier_and_no_other_role() {
    let shop = Shop::open("USD").await;
    let us = shop.company("US", json!({})).await;
    let mug = shop.product("MUG", us, "10.00", json!({})).await;
    let tier = shop.tier("staff", "30").await;
    let view: Value = shop
        .group
        .admin
        .post(
            "/api/v1/employees",
            json!({"email": "old@us.example", "full_name": "Old Timer", "company_id": us,
                   "employment_type": "direct", "client_type": "operational", "tier_id": tier.id,
                   "roles": ["employee", "purchaser"], "password": EMPLOYEE_PASSWORD}),
        )
        .await
        .assert_status(201)
        .clone();
    let path = format!("/api/v1/employees/{}", view["id"].as_str().unwrap());
    let admin = &shop.group.admin;
    let retired = admin.patch(&path, json!({"former": "retired"})).await;
    let retired = retired.assert_status(200);
    assert_eq!(retired["former"], "retired");
    assert_eq!(retired["roles"], json!(["employee"]));
    assert_eq!(retired["active"], true);
    // Other roles beside it are refused.
    admin
        .patch(&path, json!({"roles": ["employee", "admin"]}))
        .await
        .assert_problem(422, "validation_failed");
    // They sign in and shop at their tier's 30 %.
    let token = shop.app.token("old@us.example", EMPLOYEE_PASSWORD).await;
    let old = Actor::new(
        shop.app.api(),
        Uuid::parse_str(view["id"].as_str().unwrap()).unwrap(),
        token,
    );
    let order: OrderView = old.order("k1", [(&mug, 1)]).await.typed(201);
    assert_eq!(order.priced.discount_total, "3.00");
    // Back at work, roles can be given again.
    let back = admin
        .patch(
            &path,
            json!({"former": null, "roles": ["employee", "purchaser"]}),
        )
        .await;
    assert_eq!(back.assert_status(200)["former"], Value::Null);
}
