//! Each country's rule on its worked examples.

use super::*;

#[tokio::test]
async fn us_goods_services_line_of_business_and_non_discrimination() {
    let shop = Shop::open("USD").await;
    // Shoe stores (SIC 5661) with 35 % gross profit; a family clothing store (5651, the same
    // major group 56) employing Carl and Dana; a department store (5311) selling to them too.
    let shoes = shop
        .company("SHOES", json!({"benefit_tax_rule": "us_irc_132",
                                  "qualified_discount_gp_percent": "35", "line_of_business": "5661"}))
        .await;
    let family = shop
        .company("FAMILY", json!({"benefit_tax_rule": "us_irc_132",
                                   "qualified_discount_gp_percent": "40", "line_of_business": "5651"}))
        .await;
    let department = shop
        .company(
            "DEPT",
            json!({"qualified_discount_gp_percent": "50", "line_of_business": "5311"}),
        )
        .await;
    let boots = shop.product("BOOTS", shoes, "200.00", json!({})).await;
    let repair = shop
        .product("REPAIR", shoes, "1000.00", json!({"kind": "service"}))
        .await;
    let coat = shop.product("COAT", family, "100.00", json!({})).await;
    let sandals = shop.product("SANDALS", shoes, "100.00", json!({})).await;
    let lamp = shop.product("LAMP", department, "100.00", json!({})).await;
    let (t20, t30, t35, t40) = (
        shop.tier("all", "20").await,
        shop.tier("t30", "30").await,
        shop.tier("exec", "35").await,
        shop.tier("t40", "40").await,
    );

    // Goods: $200 sold at $120 → $70 excluded (35 % of list), $10 taxable.
    let ann = shop.employee("ann@shoes.example", shoes, &t40).await;
    shop.fulfilled(&ann, &boots, 1).await;
    let item = shop.item(&ann).await;
    assert_eq!(split(&item), ("80.00", "70.00", "10.00"));
    assert_eq!(item["rule"], "us_irc_132");
    assert_eq!(item["currency"], "USD");
    assert_eq!(item["list_total"], "200.00");
    assert_eq!(item["paid_total"], "120.00");
    assert_eq!(item["allowance_used"], Value::Null);
    assert_eq!(item["taxable_excess_group"], "10.00");

    // A service: $1,000 at $700 → $200 excluded (20 %), $100 taxable.
    let ben = shop.employee("ben@shoes.example", shoes, &t30).await;
    shop.fulfilled(&ben, &repair, 1).await;
    assert_eq!(
        split(&shop.item(&ben).await),
        ("300.00", "200.00", "100.00")
    );

    // Non-discrimination at FAMILY: 20 % for everyone, 35 % for highly compensated staff
    // only. Finance marks Dana highly compensated.
    let carl = shop.employee("carl@family.example", family, &t20).await;
    let dana = shop.employee("dana@family.example", family, &t35).await;
    let path = format!("/api/v1/employees/{}", dana.id);
    shop.finance
        .patch(&path, json!({"client_type": "executive"}))
        .await
        .assert_problem(403, "forbidden");
    let marked = shop
        .finance
        .patch(&path, json!({"highly_compensated": true}))
        .await;
    assert_eq!(marked.assert_status(200)["highly_compensated"], true);
    shop.fulfilled(&carl, &coat, 1).await;
    shop.fulfilled(&dana, &coat, 1).await;
    // Carl's 20 % is within FAMILY's 40 %: all excluded. Dana's whole 35 % is wages.
    assert_eq!(split(&shop.item(&carl).await), ("20.00", "20.00", "0.00"));
    assert_eq!(split(&shop.item(&dana).await), ("35.00", "0.00", "35.00"));
    let lines = shop.report("&limit=100&detail=lines").await;
    let dana_lines = lines["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["employee_id"] == dana.id.to_string())
        .unwrap()["lines"]
        .clone();
    assert_eq!(dana_lines[0]["reason"], "discriminatory_tier");

    // SIC 5661 seller for a 5651 employer: the same major group, so qualified property.
    // A 5311 seller is another line of business: all taxable.
    let eve = shop.employee("eve@family.example", family, &t20).await;
    shop.fulfilled(&eve, &sandals, 1).await;
    shop.fulfilled(&eve, &lamp, 1).await;
    let eve_item = shop.item(&eve).await;
    assert_eq!(split(&eve_item), ("40.00", "20.00", "20.00"));
    assert_eq!(eve_item["orders"], 2);
    let reasons: Vec<Value> = shop.report("&limit=100&detail=lines").await["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["employee_id"] == eve.id.to_string())
        .flat_map(|i| i["lines"].as_array().unwrap().clone())
        .map(|l| l["reason"].clone())
        .collect();
    assert_eq!(
        reasons,
        [json!("qualified"), json!("other_line_of_business")]
    );
}

#[tokio::test]
async fn germany_uk_france_and_spain() {
    let shop = Shop::open("EUR").await;
    shop.rate("GBP", "EUR", "1.15").await;
    let company = |code: &'static str, rule: &'static str, currency: &'static str| {
        shop.company(
            code,
            json!({"benefit_tax_rule": rule, "currency": currency, "country": &code[..2]}),
        )
    };
    let de = company("DE-AG", "de_estg_8_3", "EUR").await;
    let de_sister = company("DE-GMBH", "none", "EUR").await;
    let uk = company("GB-LTD", "uk_bik_cost", "GBP").await;
    let fr = company("FR-SA", "fr_urssaf_30", "EUR").await;
    let es = company("ES-SL", "es_lirpf_ordinary", "EUR").await;
    // Germany's and Spain's yearly amounts are euros: such a company keeps its books in EUR.
    shop.group
        .admin
        .post(
            "/api/v1/companies",
            json!({"code": "DE-USD", "name": "x", "parent_id": shop.group.root_id,
                   "currency": "USD", "country": "DE", "benefit_tax_rule": "de_estg_8_3"}),
        )
        .await
        .assert_problem(422, "validation_failed");
    let (t10, t20, t24, t30, t40, t50) = (
        shop.tier("t10", "10").await,
        shop.tier("t20", "20").await,
        shop.tier("t24", "24").await,
        shop.tier("t30", "30").await,
        shop.tier("t40", "40").await,
        shop.tier("t50", "50").await,
    );

    // DE: 7,500 € at 6,000 € → benefit 96 % × 7,500 − 6,000 = 1,200; 1,080 free, 120 taxable.
    let car = shop.product("CAR", de, "7500.00", json!({})).await;
    let hans = shop.employee("hans@de.example", de, &t20).await;
    shop.fulfilled(&hans, &car, 1).await;
    let item = shop.item(&hans).await;
    assert_eq!(split(&item), ("1500.00", "1380.00", "120.00"));
    assert_eq!(item["allowance_used"], "1080.00");
    // The same car bought from a sister company: the whole 1,500 € is taxable.
    let sister_car = shop.product("CAR2", de_sister, "7500.00", json!({})).await;
    let greta = shop.employee("greta@de.example", de, &t20).await;
    shop.fulfilled(&greta, &sister_car, 1).await;
    let item = shop.item(&greta).await;
    assert_eq!(split(&item), ("1500.00", "0.00", "1500.00"));
    assert_eq!(item["allowance_used"], "0.00");

    // UK: cost £60; paid £70 → nothing; paid £50 → £10 (11.50 € in the group currency).
    let kettle = shop
        .product("KETTLE", uk, "100.00", json!({"unit_cost": "60.00"}))
        .await;
    let (ian, jill) = (
        shop.employee("ian@uk.example", uk, &t30).await,
        shop.employee("jill@uk.example", uk, &t50).await,
    );
    shop.fulfilled(&ian, &kettle, 1).await;
    shop.fulfilled(&jill, &kettle, 1).await;
    assert_eq!(split(&shop.item(&ian).await).2, "0.00");
    let item = shop.item(&jill).await;
    assert_eq!(split(&item).2, "10.00");
    assert_eq!(item["currency"], "GBP");
    assert_eq!(item["taxable_excess_group"], "11.50");

    // FR: 50 € at 38 € (24 %) → 0; at 30 € (40 %) → the whole 20 €.
    let scarf = shop.product("SCARF", fr, "50.00", json!({})).await;
    let (luc, marie) = (
        shop.employee("luc@fr.example", fr, &t24).await,
        shop.employee("marie@fr.example", fr, &t40).await,
    );
    shop.fulfilled(&luc, &scarf, 1).await;
    shop.fulfilled(&marie, &scarf, 1).await;
    assert_eq!(split(&shop.item(&luc).await), ("12.00", "12.00", "0.00"));
    assert_eq!(split(&shop.item(&marie).await), ("20.00", "0.00", "20.00"));

    // ES: 10 % off 5,000 € in a year → ordinary, nothing taxable; 20 % off 100 € → 20 €.
    let (desk, chair) = (
        shop.product("DESK", es, "1000.00", json!({})).await,
        shop.product("CHAIR", es, "100.00", json!({})).await,
    );
    let (nuria, oscar) = (
        shop.employee("nuria@es.example", es, &t10).await,
        shop.employee("oscar@es.example", es, &t20).await,
    );
    shop.fulfilled(&nuria, &desk, 2).await;
    shop.fulfilled(&nuria, &desk, 3).await;
    shop.fulfilled(&oscar, &chair, 1).await;
    let item = shop.item(&nuria).await;
    assert_eq!(split(&item), ("500.00", "500.00", "0.00"));
    assert_eq!(item["allowance_used"], "500.00");
    assert_eq!(item["orders"], 2);
    assert_eq!(split(&shop.item(&oscar).await), ("20.00", "0.00", "20.00"));
}
