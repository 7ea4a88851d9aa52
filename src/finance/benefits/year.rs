//! A year of benefit lines, assessed: the rows `benefit_lines` holds for a chunk of employees,
//! walked employee by employee in the order they were earned through the domain's rules into
//! one item per employee, employer and rule.

use chrono::{DateTime, NaiveDate, Utc};
use diesel::sql_types::{
    BigInt, Bool, Int4, Nullable, Numeric, Text, Timestamptz, Uuid as SqlUuid,
};
use diesel::QueryableByName;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use rust_decimal::Decimal;
use uuid::Uuid;

use super::{BenefitItem, BenefitLine};
use crate::db::statement::statement;
use crate::domain::benefits::{us, Assessment, Facts, Rule, Year};
use crate::domain::calendar::BusinessZone;
use crate::domain::codes::{CurrencyCode, SicCode};
use crate::domain::kinds::{ClientType, ProductKind};
use crate::domain::money;
use crate::error::ApiError;
use crate::ids::GroupId;

/// A `benefit_lines` row with its employee's client type.
#[derive(QueryableByName)]
pub(super) struct LineRow {
    #[diesel(sql_type = SqlUuid)]
    pub(super) employee_id: Uuid,
    #[diesel(sql_type = SqlUuid)]
    employer_company_id: Uuid,
    #[diesel(sql_type = Text)]
    client_type: ClientType,
    #[diesel(sql_type = Text)]
    rule: Rule,
    #[diesel(sql_type = Text)]
    currency: String,
    #[diesel(sql_type = Numeric)]
    to_group_rate: Decimal,
    #[diesel(sql_type = SqlUuid)]
    order_id: Uuid,
    #[diesel(sql_type = Int4)]
    line_no: i32,
    #[diesel(sql_type = Timestamptz)]
    fulfilled_at: DateTime<Utc>,
    #[diesel(sql_type = SqlUuid)]
    product_id: Uuid,
    #[diesel(sql_type = SqlUuid)]
    seller_company_id: Uuid,
    #[diesel(sql_type = Int4)]
    quantity: i32,
    #[diesel(sql_type = Numeric)]
    list_total: Decimal,
    #[diesel(sql_type = Numeric)]
    paid_total: Decimal,
    #[diesel(sql_type = Numeric)]
    cost_total: Decimal,
    #[diesel(sql_type = Text)]
    product_kind: ProductKind,
    #[diesel(sql_type = Bool)]
    offered_to_customers: bool,
    #[diesel(sql_type = Nullable<Numeric>)]
    seller_gp_percent: Option<Decimal>,
    #[diesel(sql_type = Nullable<Text>)]
    seller_line_of_business: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    employer_line_of_business: Option<String>,
    #[diesel(sql_type = Bool)]
    highly_compensated: bool,
    #[diesel(sql_type = Bool)]
    tier_discriminatory: bool,
}

impl LineRow {
    fn facts(&self) -> Facts {
        let sic = |code: &Option<String>| code.as_deref().and_then(SicCode::parse);
        Facts {
            list_total: self.list_total,
            paid_total: self.paid_total,
            cost_total: self.cost_total,
            service: self.product_kind == ProductKind::Service,
            offered_to_customers: self.offered_to_customers,
            own_product: self.seller_company_id == self.employer_company_id,
            seller_gp_percent: self.seller_gp_percent,
            same_line_of_business: us::same_line_of_business(
                sic(&self.seller_line_of_business),
                sic(&self.employer_line_of_business),
            ),
            highly_compensated: self.highly_compensated,
            tier_discriminatory: self.tier_discriminatory,
        }
    }
}

/// One item being summed: the year's lines of one employee at one employer under one rule.
struct Running {
    employee_id: Uuid,
    company_id: Uuid,
    client_type: ClientType,
    rule: Rule,
    currency: CurrencyCode,
    year: Year,
    orders: i64,
    last_order: Option<Uuid>,
    list_total: Decimal,
    paid_total: Decimal,
    discount_total: Decimal,
    qualified: Decimal,
    taxable: Decimal,
    taxable_group: Decimal,
    lines: Option<Vec<BenefitLine>>,
}

pub(super) fn currency(code: &str) -> Result<CurrencyCode, ApiError> {
    CurrencyCode::parse(code).ok_or_else(|| ApiError::internal(format!("unknown currency {code}")))
}

impl Running {
    fn start(row: &LineRow, detail: bool) -> Result<Self, ApiError> {
        let currency = currency(&row.currency)?;
        Ok(Self {
            employee_id: row.employee_id,
            company_id: row.employer_company_id,
            client_type: row.client_type,
            rule: row.rule,
            currency,
            year: Year::new(row.rule, currency),
            orders: 0,
            last_order: None,
            list_total: Decimal::ZERO,
            paid_total: Decimal::ZERO,
            discount_total: Decimal::ZERO,
            qualified: Decimal::ZERO,
            taxable: Decimal::ZERO,
            taxable_group: Decimal::ZERO,
            lines: detail.then(Vec::new),
        })
    }

    fn holds(&self, row: &LineRow) -> bool {
        self.employee_id == row.employee_id
            && self.company_id == row.employer_company_id
            && self.rule == row.rule
            && self.currency.as_str() == row.currency
    }

    /// The next line of the item, in the order lines were earned.
    fn add(&mut self, row: &LineRow, scope: Scope, elsewhere: Decimal) -> Result<(), ApiError> {
        let assessment = self.year.assess_sharing(&row.facts(), elsewhere)?;
        if row.fulfilled_at < scope.counted_from {
            // Earlier in the year: it drew on the allowance, and is someone else's figure.
            return Ok(());
        }
        if self.last_order != Some(row.order_id) {
            self.orders = self.orders.saturating_add(1);
            self.last_order = Some(row.order_id);
        }
        self.list_total = money::add(self.list_total, row.list_total)?;
        self.paid_total = money::add(self.paid_total, row.paid_total)?;
        self.discount_total = money::add(self.discount_total, assessment.discount)?;
        self.qualified = money::add(self.qualified, assessment.qualified.unwrap_or_default())?;
        let taxable = assessment.taxable.unwrap_or_default();
        self.taxable = money::add(self.taxable, taxable)?;
        let in_group = money::round(
            money::mul(taxable, row.to_group_rate)?,
            scope.group_currency,
        );
        self.taxable_group = money::add(self.taxable_group, in_group)?;
        if let Some(lines) = &mut self.lines {
            let day = scope.zone.today(row.fulfilled_at);
            lines.push(line_view(row, day, &assessment, self.rule, self.currency));
        }
        Ok(())
    }

    fn item(self, group_currency: CurrencyCode) -> BenefitItem {
        let code = self.currency;
        let computed = self.rule != Rule::None;
        let amount = |value: Decimal| money::format(value, code);
        BenefitItem {
            employee_id: self.employee_id,
            company_id: self.company_id,
            client_type: self.client_type,
            rule: self.rule,
            currency: code.to_string(),
            orders: self.orders,
            list_total: amount(self.list_total),
            paid_total: amount(self.paid_total),
            discount_total: amount(self.discount_total),
            qualified_discount: computed.then(|| amount(self.qualified)),
            taxable_excess: computed.then(|| amount(self.taxable)),
            allowance_used: self.year.allowance_used().map(amount),
            taxable_excess_group: computed
                .then(|| money::format(self.taxable_group, group_currency)),
            lines: self.lines,
        }
    }
}

fn line_view(
    row: &LineRow,
    fulfilled_on: NaiveDate,
    a: &Assessment,
    rule: Rule,
    code: CurrencyCode,
) -> BenefitLine {
    let amount = |value: Decimal| money::format(value, code);
    BenefitLine {
        order_id: row.order_id,
        line_no: row.line_no,
        fulfilled_on,
        product_id: row.product_id,
        seller_company_id: row.seller_company_id,
        quantity: row.quantity,
        list_total: amount(row.list_total),
        paid_total: amount(row.paid_total),
        discount: amount(a.discount),
        qualified_discount: a.qualified.map(amount),
        taxable_excess: a.taxable.map(amount),
        allowance_used: matches!(rule, Rule::DeEstg83 | Rule::EsLirpfOrdinary)
            .then(|| amount(a.allowance)),
        reason: a.reason,
    }
}

/// What a report covers: a group's lines from `from` to `to` (its calendar's midnights),
/// shown in its currency. Lines before `counted_from` are assessed (they draw on the year's
/// allowances) but not counted: a month's report reads its year from January.
#[derive(Clone, Copy)]
pub(super) struct Scope {
    pub group: GroupId,
    pub from: DateTime<Utc>,
    pub counted_from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub zone: BusinessZone,
    pub group_currency: CurrencyCode,
    pub detail: bool,
}

/// The lines of the next `limit` employees after `after` with lines counted in the scope.
pub(super) async fn load(
    conn: &mut AsyncPgConnection,
    scope: Scope,
    after: Uuid,
    limit: i64,
) -> Result<Vec<LineRow>, ApiError> {
    Ok(statement(include_str!("lines.sql"))
        .bind::<SqlUuid, _>(scope.group)
        .bind::<Timestamptz, _>(scope.from)
        .bind::<Timestamptz, _>(scope.to)
        .bind::<SqlUuid, _>(after)
        .bind::<BigInt, _>(limit)
        .bind::<Timestamptz, _>(scope.counted_from)
        .load(conn)
        .await?)
}

/// The items of loaded lines: an employee's items in the order their employers' lines were
/// first earned.
pub(super) fn assemble(rows: &[LineRow], scope: Scope) -> Result<Vec<BenefitItem>, ApiError> {
    // Lines come employee by employee; an employee's lines at one employer under one rule
    // make one item, however they interleave with their other employers' (a transfer in
    // the year, and back).
    let mut items: Vec<BenefitItem> = Vec::new();
    let mut open: Vec<Running> = Vec::new();
    for row in rows {
        if <[Running]>::first(&open).is_some_and(|r| r.employee_id != row.employee_id) {
            items.extend(open.drain(..).map(|r| r.item(scope.group_currency)));
        }
        let at = match open.iter().position(|r| r.holds(row)) {
            Some(at) => at,
            None => {
                open.push(Running::start(row, scope.detail)?);
                open.len().saturating_sub(1)
            }
        };
        // A yearly allowance is the employee's: what their other employers under the same
        // rule drew this year counts.
        let elsewhere = money::sum(
            open.iter()
                .enumerate()
                .filter(|(i, r)| *i != at && r.rule == row.rule)
                .map(|(_, r)| r.year.drawn()),
        )?;
        if let Some(running) = open.get_mut(at) {
            running.add(row, scope, elsewhere)?;
        }
    }
    items.extend(open.into_iter().map(|r| r.item(scope.group_currency)));
    Ok(items)
}
