//! Intercompany orders as the API shows them: a quote, a just-placed order, and stored orders
//! with their lines and ledger entries (read for a whole page in two queries).

use std::collections::HashMap;

use chrono::NaiveDate;
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use rust_decimal::Decimal;
use uuid::Uuid;

use super::dto::*;
use super::pricing::Priced;
use super::queries::{self, OrderRow};
use crate::db::schema::{intercompany_order_lines as lines, ledger_entries as entries};
use crate::domain::codes::CurrencyCode;
use crate::domain::money;
use crate::domain::transfer_pricing::{MarkupRange, Method, PricedLine};
use crate::error::ApiError;
use crate::ids::{GroupId, IcOrderId};

/// A percentage as the API writes it: without trailing zeros.
fn percent_text(value: Decimal) -> String {
    value.normalize().to_string()
}

fn line_view(
    product_id: Uuid,
    quantity: i32,
    line: &PricedLine,
    currency: CurrencyCode,
) -> IcLineView {
    IcLineView {
        product_id,
        quantity,
        policy_id: line.policy_id,
        method: line.method,
        percent: percent_text(line.percent),
        min_markup_percent: line.range.min.map(percent_text),
        max_markup_percent: line.range.max.map(percent_text),
        unit_cost: money::format(line.unit_cost, currency),
        unit_transfer_price: money::format(line.unit_transfer_price, currency),
        line_total: money::format(line.line_total, currency),
        markup_percent: line.markup_percent.map(percent_text),
        outside_arms_length_range: line.outside_arms_length_range,
    }
}

fn priced_lines(priced: &Priced) -> Vec<IcLineView> {
    priced
        .lines
        .iter()
        .map(|(id, quantity, line)| line_view(*id, *quantity, line, priced.currency))
        .collect()
}

/// What `priced` would be as an order.
pub fn quote(priced: &Priced) -> IcQuoteView {
    IcQuoteView {
        buyer_company_id: priced.buyer,
        seller_company_id: priced.seller,
        currency: priced.currency.to_string(),
        lines: priced_lines(priced),
        total: money::format(priced.total, priced.currency),
        order_date: priced.order_date,
    }
}

/// The order `row` just placed from `priced`: its lines are the priced ones, and it has no
/// ledger entries yet (nothing is booked before shipping).
pub fn placed(row: OrderRow, priced: &Priced) -> IcOrderView {
    order_view(row, priced_lines(priced), Vec::new())
}

fn order_view(row: OrderRow, lines: Vec<IcLineView>, entries: Vec<EntryView>) -> IcOrderView {
    IcOrderView {
        id: row.id.uuid(),
        number: row.number,
        status: row.status,
        buyer_company_id: row.buyer_company_id.into(),
        seller_company_id: row.seller_company_id.into(),
        total: money::format(row.total, row.currency),
        currency: row.currency.to_string(),
        lines,
        entries,
        order_date: row.order_date,
        promised_date: row.promised_date,
        ship_date: row.ship_date,
        settle_date: row.settle_date,
        created_at: row.created_at,
        updated_at: row.updated_at,
    }
}

#[derive(Debug, Queryable, Selectable)]
#[diesel(table_name = lines)]
struct LineRow {
    order_id: IcOrderId,
    product_id: Uuid,
    quantity: i32,
    policy_id: Uuid,
    method: String,
    percent: Decimal,
    min_markup_percent: Option<Decimal>,
    max_markup_percent: Option<Decimal>,
    unit_cost: Decimal,
    unit_transfer_price: Decimal,
    line_total: Decimal,
    markup_percent: Option<Decimal>,
    outside_arms_length_range: bool,
}

impl LineRow {
    /// The stored line as it was priced.
    fn priced(&self) -> Result<PricedLine, ApiError> {
        Ok(PricedLine {
            policy_id: self.policy_id,
            method: Method::parse(&self.method)
                .ok_or_else(|| ApiError::internal("unknown transfer-pricing method"))?,
            percent: self.percent,
            range: MarkupRange {
                min: self.min_markup_percent,
                max: self.max_markup_percent,
            },
            unit_cost: self.unit_cost,
            unit_transfer_price: self.unit_transfer_price,
            line_total: self.line_total,
            markup_percent: self.markup_percent,
            outside_arms_length_range: self.outside_arms_length_range,
        })
    }
}

#[derive(Debug, Queryable, Selectable)]
#[diesel(table_name = entries)]
struct EntryRow {
    order_id: Option<IcOrderId>,
    company_id: Uuid,
    kind: String,
    amount: Decimal,
    currency: CurrencyCode,
    document_amount: Decimal,
    document_currency: CurrencyCode,
    rate: Decimal,
    date: NaiveDate,
}

impl EntryRow {
    fn view(self) -> Result<EntryView, ApiError> {
        Ok(EntryView {
            company_id: self.company_id,
            kind: EntryKind::parse(&self.kind)
                .ok_or_else(|| ApiError::internal("unknown entry kind"))?,
            amount: money::format(self.amount, self.currency),
            document_amount: money::format(self.document_amount, self.document_currency),
            currency: self.currency.to_string(),
            document_currency: self.document_currency.to_string(),
            rate: self.rate.normalize().to_string(),
            date: self.date,
        })
    }
}

/// The views of `rows`, with their lines and entries read in two queries.
pub async fn of_rows(
    conn: &mut AsyncPgConnection,
    rows: Vec<OrderRow>,
) -> Result<Vec<IcOrderView>, ApiError> {
    let ids: Vec<IcOrderId> = rows.iter().map(|r| r.id).collect();
    let mut lines_of: HashMap<IcOrderId, Vec<LineRow>> = HashMap::new();
    for line in lines::table
        .filter(lines::order_id.eq_any(&ids))
        .order((lines::order_id, lines::line_no))
        .select(LineRow::as_select())
        .load::<LineRow>(conn)
        .await?
    {
        lines_of.entry(line.order_id).or_default().push(line);
    }
    let mut entries_of: HashMap<IcOrderId, Vec<EntryRow>> = HashMap::new();
    for entry in entries::table
        .filter(entries::order_id.eq_any(&ids))
        .order(entries::seq)
        .select(EntryRow::as_select())
        .load::<EntryRow>(conn)
        .await?
    {
        if let Some(order) = entry.order_id {
            entries_of.entry(order).or_default().push(entry);
        }
    }
    rows.into_iter()
        .map(|row| {
            let currency = row.currency;
            let lines = lines_of
                .remove(&row.id)
                .unwrap_or_default()
                .iter()
                .map(|l| Ok(line_view(l.product_id, l.quantity, &l.priced()?, currency)))
                .collect::<Result<Vec<_>, ApiError>>()?;
            let entries = entries_of
                .remove(&row.id)
                .unwrap_or_default()
                .into_iter()
                .map(EntryRow::view)
                .collect::<Result<Vec<_>, ApiError>>()?;
            Ok(order_view(row, lines, entries))
        })
        .collect()
}

/// Order `id` of `group` as it is now (404 when there is none).
pub async fn one(
    conn: &mut AsyncPgConnection,
    group: GroupId,
    id: IcOrderId,
) -> Result<IcOrderView, ApiError> {
    let row = queries::find(conn, group, id)
        .await?
        .ok_or(ApiError::NotFound)?;
    of_rows(conn, vec![row])
        .await?
        .pop()
        .ok_or(ApiError::NotFound)
}
