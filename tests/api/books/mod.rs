//! Books an auditor signs: a closed month that never changes and months closed in order,
//! consolidation with differences and unrealised profit, true-ups that do not depend on when
//! they run, versioned policies and their exceptions, honest KPIs, exact netting, and inputs a
//! ledger can trust. Every amount is worked by hand in the test.

mod calendar;
mod consolidation;
mod frozen;
mod inputs;
mod kpis;
mod netting;
mod retries;
mod true_ups;

use internal_store::catalog::dto::ProductView;
use internal_store::intercompany::dto::IcOrderView;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::helpers::trade::{act, create, day, trade, Trade};
use crate::helpers::{Actor, TestApp};

/// An order of `quantity` × `product` that `buyer` (through `who`) places with ABC, accepted
/// and shipped today by ABC's purchaser.
async fn shipped(
    t: &Trade,
    who: &Actor,
    buyer: Uuid,
    product: &ProductView,
    quantity: i64,
    key: &str,
) -> IcOrderView {
    let order = requested(t, who, buyer, product, quantity, key).await;
    act(&t.abc_purchaser, &order, "accept", json!({}))
        .await
        .assert_status(200);
    act(&t.abc_purchaser, &order, "ship", json!({}))
        .await
        .typed(200)
}

/// An order `buyer` (through `who`) requests from ABC.
async fn requested(
    t: &Trade,
    who: &Actor,
    buyer: Uuid,
    product: &ProductView,
    quantity: i64,
    key: &str,
) -> IcOrderView {
    let body = json!({"buyer_company_id": buyer, "seller_company_id": t.abc,
                      "lines": [{"product_id": product.id, "quantity": quantity}]});
    create(who, key, &body).await.typed(201)
}

/// The raw body of `GET path` by `who`, as JSON (`csv` false) or CSV.
async fn raw(app: &TestApp, who: &Actor, path: &str, csv: bool) -> String {
    let accept = if csv { "text/csv" } else { "application/json" };
    let response = app
        .client
        .get(app.url(path))
        .bearer_auth(&who.token)
        .header("Accept", accept)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "{path}");
    response.text().await.unwrap()
}

/// The (debit, credit, amount) of every elimination entry of `report`.
fn entries(report: &Value) -> Vec<(String, String, String)> {
    report["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["debit_account"].as_str().unwrap().to_owned(),
                e["credit_account"].as_str().unwrap().to_owned(),
                e["amount"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn entry(debit: &str, credit: &str, amount: &str) -> (String, String, String) {
    (debit.to_owned(), credit.to_owned(), amount.to_owned())
}
