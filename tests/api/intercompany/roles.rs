//! Who may do what with an intercompany order.

use super::*;

#[tokio::test]
async fn who_may_do_what_with_an_intercompany_order() {
    let app = TestApp::spawn().await;
    app.clock.set_today(day("2026-03-02"));
    let t = trade(&app).await;
    let widget = t.product("WIDGET", "50.00", "90.00", 100).await;
    let internal_only = t
        .group
        .product("NOT-IC", &t.category, "10.00")
        .seller(t.abc)
        .with(json!({"unit_cost": "5.00", "intercompany_eligible": false}))
        .create()
        .await;
    t.policy(json!({"method": "cost_plus", "percent": "10", "valid_from": "2026-01-01"}))
        .await;
    let body = t.order_body([(&widget, 1)]);

    // Only a purchaser of the buyer creates: the seller's purchaser → 403, a plain employee → 403.
    create(&t.abc_purchaser, "a", &body)
        .await
        .assert_problem(403, "forbidden");
    create(&t.employee, "b", &body)
        .await
        .assert_problem(403, "forbidden");
    // Buyer and seller must be two companies of the group.
    let mut same = body.clone();
    same["seller_company_id"] = json!(t.xyz);
    create(&t.xyz_purchaser, "c", &same)
        .await
        .assert_problem(422, "not_intercompany");
    let mut foreign = body.clone();
    foreign["seller_company_id"] = json!(uuid::Uuid::new_v4());
    create(&t.xyz_purchaser, "d", &foreign)
        .await
        .assert_problem(422, "not_intercompany");
    // A buyer that is no company of the group is a reference to another tenant's: 422 naming
    // it, quoted or placed (a company of the group that is not the caller's stays 403).
    let mut elsewhere = body.clone();
    elsewhere["buyer_company_id"] = json!(uuid::Uuid::new_v4());
    let refused = create(&t.xyz_purchaser, "f", &elsewhere).await;
    refused.assert_problem(422, "validation_failed");
    assert_eq!(refused.field(), "buyer_company_id");
    let quoted = t
        .xyz_purchaser
        .post("/api/v1/intercompany-orders/quote", elsewhere)
        .await;
    quoted.assert_problem(422, "validation_failed");
    assert_eq!(quoted.field(), "buyer_company_id");
    create(&t.xyz_purchaser, "e", &t.order_body([(&internal_only, 1)]))
        .await
        .assert_problem(422, "not_eligible");
    create(&t.xyz_purchaser, "f", &t.order_body([(&widget, 0)]))
        .await
        .assert_problem(422, "validation_failed");

    let order: IcOrderView = create(&t.xyz_purchaser, "g", &body).await.typed(201);
    let path = format!("/api/v1/intercompany-orders/{}", order.id);
    // A purchaser of a third company sees nothing; a plain employee is refused.
    app.get(&path, &t.def_purchaser)
        .await
        .assert_problem(404, "not_found");
    act(&t.def_purchaser, &order, "accept", json!({}))
        .await
        .assert_problem(404, "not_found");
    app.get(&path, &t.employee)
        .await
        .assert_problem(403, "forbidden");
    let listed = app
        .get("/api/v1/intercompany-orders", &t.def_purchaser)
        .await;
    assert!(listed.items::<IcOrderView>().is_empty());
    for token in [
        &t.xyz_purchaser,
        &t.abc_purchaser,
        &t.finance,
        &t.group.admin,
    ] {
        app.get(&path, token).await.assert_status(200);
        let listed = app
            .get("/api/v1/intercompany-orders?status=requested", token)
            .await;
        assert_eq!(listed.items::<IcOrderView>()[0].id, order.id);
    }
    // The buyer may not accept or ship its own order; finance may not accept; only finance settles.
    act(&t.xyz_purchaser, &order, "accept", json!({}))
        .await
        .assert_problem(403, "forbidden");
    act(&t.finance, &order, "accept", json!({}))
        .await
        .assert_problem(403, "forbidden");
    // Illegal transitions: ship or settle a requested order.
    act(&t.abc_purchaser, &order, "ship", json!({}))
        .await
        .assert_problem(409, "invalid_state");
    act(&t.finance, &order, "settle", json!({}))
        .await
        .assert_problem(409, "invalid_state");
    act(
        &t.abc_purchaser,
        &order,
        "accept",
        json!({"promised_date": "2026-03-01"}),
    )
    .await
    .assert_problem(422, "validation_failed");
    act(&t.abc_purchaser, &order, "accept", json!({}))
        .await
        .assert_status(200);
    act(&t.abc_purchaser, &order, "settle", json!({}))
        .await
        .assert_problem(403, "forbidden");
    // Cancel is for requested orders only, by the buyer.
    act(&t.xyz_purchaser, &order, "cancel", json!({}))
        .await
        .assert_problem(409, "invalid_state");
    let second: IcOrderView = create(&t.xyz_purchaser, "h", &body).await.typed(201);
    act(&t.abc_purchaser, &second, "cancel", json!({}))
        .await
        .assert_problem(403, "forbidden");
    let cancelled = act(&t.xyz_purchaser, &second, "cancel", json!({})).await;
    assert_eq!(
        cancelled.typed::<IcOrderView>(200).status,
        Status::Cancelled
    );
    let third: IcOrderView = create(&t.xyz_purchaser, "i", &body).await.typed(201);
    let rejected = act(&t.abc_purchaser, &third, "reject", json!({})).await;
    assert_eq!(rejected.typed::<IcOrderView>(200).status, Status::Rejected);
    act(&t.abc_purchaser, &third, "accept", json!({}))
        .await
        .assert_problem(409, "invalid_state");
}
