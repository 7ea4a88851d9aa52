//! Fixing an order's benefit facts when it is fulfilled (§7): one `benefit_lines` row per line
//! with every fact its tax depends on and its amounts in the employer's currency at the
//! fulfilment day's rate. The benefits report reads only these rows, so no later change of
//! master data moves a figure already earned.

use chrono::{DateTime, NaiveDate, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Bool, Int4, Nullable, Numeric, Text, Uuid as SqlUuid};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use rust_decimal::Decimal;
use uuid::Uuid;

use crate::db::schema::benefit_lines;
use crate::db::statement::statement;
use crate::domain::benefits::us;
use crate::domain::codes::CurrencyCode;
use crate::domain::fx;
use crate::domain::kinds::{BenefitTaxRule, ProductKind};
use crate::domain::money;
use crate::error::ApiError;
use crate::ids::{EmployeeId, GroupId, OrderId};

#[derive(QueryableByName)]
struct LineFacts {
    #[diesel(sql_type = Int4)]
    line_no: i32,
    #[diesel(sql_type = SqlUuid)]
    product_id: Uuid,
    #[diesel(sql_type = Int4)]
    quantity: i32,
    #[diesel(sql_type = Numeric)]
    line_list_total: Decimal,
    #[diesel(sql_type = Numeric)]
    line_total: Decimal,
    #[diesel(sql_type = Numeric)]
    unit_cost: Decimal,
    #[diesel(sql_type = Text)]
    kind: ProductKind,
    #[diesel(sql_type = Bool)]
    offered_to_customers: bool,
    #[diesel(sql_type = Text)]
    order_currency: CurrencyCode,
    #[diesel(sql_type = Text)]
    group_currency: CurrencyCode,
    #[diesel(sql_type = SqlUuid)]
    employee_id: EmployeeId,
    #[diesel(sql_type = SqlUuid)]
    seller_company_id: Uuid,
    #[diesel(sql_type = Nullable<Numeric>)]
    seller_gp: Option<Decimal>,
    #[diesel(sql_type = Nullable<Text>)]
    seller_lob: Option<String>,
    #[diesel(sql_type = SqlUuid)]
    employer_id: Uuid,
    #[diesel(sql_type = Text)]
    rule: BenefitTaxRule,
    #[diesel(sql_type = Nullable<Text>)]
    employer_lob: Option<String>,
    #[diesel(sql_type = Text)]
    employer_currency: CurrencyCode,
    #[diesel(sql_type = Bool)]
    highly_compensated: bool,
    #[diesel(sql_type = Nullable<Bool>)]
    all_hce: Option<bool>,
    #[diesel(sql_type = Nullable<Numeric>)]
    tier_percent: Option<Decimal>,
    #[diesel(sql_type = Nullable<Numeric>)]
    best_non_hce_percent: Option<Decimal>,
}

#[derive(Insertable)]
#[diesel(table_name = benefit_lines)]
struct NewBenefitLine {
    group_id: GroupId,
    order_id: OrderId,
    line_no: i32,
    employee_id: EmployeeId,
    employer_company_id: Uuid,
    rule: BenefitTaxRule,
    employer_line_of_business: Option<String>,
    fulfilled_at: DateTime<Utc>,
    seller_company_id: Uuid,
    seller_gp_percent: Option<Decimal>,
    seller_line_of_business: Option<String>,
    product_id: Uuid,
    product_kind: ProductKind,
    offered_to_customers: bool,
    quantity: i32,
    currency: String,
    list_total: Decimal,
    paid_total: Decimal,
    cost_total: Decimal,
    group_currency: String,
    to_group_rate: Decimal,
    highly_compensated: bool,
    tier_discriminatory: bool,
}

/// The day's rate from the order's currency into the employer's: the pair's own rate, else
/// through the group currency (the rates a group keeps at the least), else 422
/// `fx_rate_missing` naming the direct pair.
async fn to_employer(
    conn: &mut AsyncPgConnection,
    group: GroupId,
    (order, employer, group_currency): (CurrencyCode, CurrencyCode, CurrencyCode),
    day: NaiveDate,
) -> Result<Decimal, ApiError> {
    use crate::fx::queries::lookup;
    if let Some(rate) = lookup(conn, group, order, employer, day).await? {
        return Ok(rate);
    }
    let into_group = lookup(conn, group, order, group_currency, day).await?;
    let out_of_group = lookup(conn, group, group_currency, employer, day).await?;
    match (into_group, out_of_group) {
        (Some(a), Some(b)) => Ok(money::mul(a, b)?),
        _ => Err(crate::fx::queries::missing(order, employer, day)),
    }
}

/// Records the benefit facts of `order`, fulfilled at `at` on the group's business day `day`.
/// A conversion into the employer's currency with no rate known on that day, directly or
/// through the group currency → 422 `fx_rate_missing` (the fulfilment is refused: a payroll
/// figure is never guessed).
pub async fn record(
    conn: &mut AsyncPgConnection,
    group: GroupId,
    order: OrderId,
    day: NaiveDate,
    at: DateTime<Utc>,
) -> Result<(), ApiError> {
    let lines: Vec<LineFacts> = statement(include_str!("benefit_facts.sql"))
        .bind::<SqlUuid, _>(group)
        .bind::<SqlUuid, _>(order)
        .load(conn)
        .await?;
    let Some(first) = <[LineFacts]>::first(&lines) else {
        return Ok(());
    };
    // One order, one employee: the currencies and rates are the same on every line.
    let (order_currency, employer_currency, group_currency) = (
        first.order_currency,
        first.employer_currency,
        first.group_currency,
    );
    let to_employer = to_employer(
        conn,
        group,
        (order_currency, employer_currency, group_currency),
        day,
    )
    .await?;
    let to_group =
        crate::fx::queries::rate(conn, group, employer_currency, group_currency, day).await?;
    let convert = |amount| fx::convert(amount, to_employer, employer_currency);
    let mut rows = Vec::with_capacity(lines.len());
    for line in lines {
        let list_total = convert(line.line_list_total)?;
        let tier_discriminatory = line.tier_percent.is_some_and(|percent| {
            us::tier_discriminatory(
                line.all_hce.unwrap_or(false),
                percent,
                line.best_non_hce_percent,
            )
        });
        rows.push(NewBenefitLine {
            group_id: group,
            order_id: order,
            line_no: line.line_no,
            employee_id: line.employee_id,
            employer_company_id: line.employer_id,
            rule: line.rule,
            employer_line_of_business: line.employer_lob,
            fulfilled_at: at,
            seller_company_id: line.seller_company_id,
            seller_gp_percent: line.seller_gp,
            seller_line_of_business: line.seller_lob,
            product_id: line.product_id,
            product_kind: line.kind,
            offered_to_customers: line.offered_to_customers,
            quantity: line.quantity,
            currency: employer_currency.to_string(),
            list_total,
            // Rounded apart, the price paid could pass the list price by a minor unit.
            paid_total: convert(line.line_total)?.min(list_total),
            cost_total: convert(money::mul(line.unit_cost, Decimal::from(line.quantity))?)?,
            group_currency: group_currency.to_string(),
            to_group_rate: to_group,
            highly_compensated: line.highly_compensated,
            tier_discriminatory,
        });
    }
    diesel::insert_into(benefit_lines::table)
        .values(&rows)
        .execute(conn)
        .await?;
    Ok(())
}
