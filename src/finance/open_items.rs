//! Two-sided documents other than orders that netting settles (§7): booked true-ups, and
//! one-sided adjustments once the other side has countered them. Each is open until a
//! settlement names its posting (`ledger_entries.settles_posting_id`, settled once per side by
//! the database); settling it books both sides and the buyer's realised FX difference exactly
//! as an order's settlement does, so a pair whose items are all settled reconciles to zero.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use diesel::prelude::*;
use diesel::sql_types::{Date, Numeric, Text, Uuid as SqlUuid};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use rust_decimal::Decimal;
use uuid::Uuid;

use super::reports::currency;
use crate::db::statement::statement;
use crate::domain::codes::CurrencyCode;
use crate::domain::kinds::LedgerSide;
use crate::domain::{intercompany, money, netting};
use crate::error::ApiError;
use crate::ids::GroupId;
use crate::intercompany::dto::EntryKind;
use crate::intercompany::ledger::{self, Entry};

/// An open document: what the buyer owes the seller by it (signed, document currency) and what
/// the buyer booked for it in its own currency.
#[derive(Debug, Clone)]
pub struct OpenItem {
    pub seller: Uuid,
    pub buyer: Uuid,
    pub document_currency: CurrencyCode,
    pub document_amount: Decimal,
    pub buyer_currency: CurrencyCode,
    pub buyer_booked: Decimal,
    /// The postings the seller's and the buyer's settlements clear (one for a true-up, two for
    /// a countered pair of adjustments).
    pub seller_posting: Uuid,
    pub buyer_posting: Uuid,
}

#[derive(QueryableByName)]
struct Row {
    #[diesel(sql_type = SqlUuid)]
    posting_id: Uuid,
    #[diesel(sql_type = Text)]
    kind: String,
    #[diesel(sql_type = Text)]
    side: LedgerSide,
    #[diesel(sql_type = SqlUuid)]
    company_id: Uuid,
    #[diesel(sql_type = SqlUuid)]
    counterparty_company_id: Uuid,
    #[diesel(sql_type = Numeric)]
    amount: Decimal,
    #[diesel(sql_type = Text)]
    currency: String,
    #[diesel(sql_type = Numeric)]
    document_amount: Decimal,
    #[diesel(sql_type = Text)]
    document_currency: String,
}

impl Row {
    /// (seller, buyer) of the pair the entry belongs to.
    fn pair(&self) -> (Uuid, Uuid) {
        match self.side {
            LedgerSide::Seller => (self.company_id, self.counterparty_company_id),
            LedgerSide::Buyer => (self.counterparty_company_id, self.company_id),
        }
    }
}

/// The group's open true-ups and countered adjustments dated on or before `date`, in a stable
/// order (pair, then booking order).
pub async fn open_items(
    conn: &mut AsyncPgConnection,
    group: GroupId,
    date: NaiveDate,
) -> Result<Vec<OpenItem>, ApiError> {
    let rows: Vec<Row> = statement(
        "SELECT e.posting_id, e.kind, e.side, e.company_id, e.counterparty_company_id, e.amount, \
                e.currency, e.document_amount, e.document_currency \
         FROM ledger_entries e \
         WHERE e.group_id = $1 AND e.kind IN ('true_up', 'adjustment') AND e.date <= $2 \
           AND NOT EXISTS (SELECT 1 FROM ledger_entries s \
                           WHERE s.settles_posting_id = e.posting_id AND s.side = e.side \
                             AND s.kind = 'settlement') \
         ORDER BY e.seq",
    )
    .bind::<SqlUuid, _>(group)
    .bind::<Date, _>(date)
    .load(conn)
    .await?;
    let mut true_ups: BTreeMap<Uuid, (Option<Row>, Option<Row>)> = BTreeMap::new();
    let mut adjustments: BTreeMap<(Uuid, Uuid), (Vec<Row>, Vec<Row>)> = BTreeMap::new();
    for row in rows {
        let seller_side = row.side == LedgerSide::Seller;
        if row.kind == EntryKind::TrueUp.as_str() {
            let legs = true_ups.entry(row.posting_id).or_default();
            if seller_side {
                legs.0 = Some(row);
            } else {
                legs.1 = Some(row);
            }
        } else {
            let sides = adjustments.entry(row.pair()).or_default();
            if seller_side {
                sides.0.push(row);
            } else {
                sides.1.push(row);
            }
        }
    }
    let mut items = Vec::new();
    for (seller, buyer) in true_ups.into_values().filter_map(|(s, b)| s.zip(b)) {
        items.push(item(&seller, &buyer)?);
    }
    for (sellers, buyers) in adjustments.into_values() {
        let amounts = |rows: &[Row]| rows.iter().map(|r| r.document_amount).collect::<Vec<_>>();
        for (i, j) in netting::countered(&amounts(&sellers), &amounts(&buyers)) {
            if let (Some(seller), Some(buyer)) = (sellers.get(i), buyers.get(j)) {
                items.push(item(seller, buyer)?);
            }
        }
    }
    items.sort_by_key(|i| (i.seller, i.buyer));
    Ok(items)
}

fn item(seller: &Row, buyer: &Row) -> Result<OpenItem, ApiError> {
    let (seller_id, buyer_id) = seller.pair();
    Ok(OpenItem {
        seller: seller_id,
        buyer: buyer_id,
        document_currency: currency(&seller.document_currency)?,
        document_amount: seller.document_amount,
        buyer_currency: currency(&buyer.currency)?,
        buyer_booked: buyer.amount,
        seller_posting: seller.posting_id,
        buyer_posting: buyer.posting_id,
    })
}

/// Settles `item` on `date`: both sides at the date's rate and the buyer's realised FX
/// difference against what it booked, each naming the posting it clears.
pub async fn settle(
    conn: &mut AsyncPgConnection,
    group: GroupId,
    item: &OpenItem,
    date: NaiveDate,
) -> Result<(), ApiError> {
    let document = item.document_currency;
    let buyer = item.buyer_currency;
    let rate = crate::fx::queries::rate(conn, group, document, buyer, date).await?;
    let legs = intercompany::settle_legs(item.document_amount, item.buyer_booked, rate, buyer)?;
    let cleared = money::sub(Decimal::ZERO, item.document_amount)?;
    let leg = |seller_side: bool, kind: EntryKind, amount: Decimal, doc: Decimal| Entry {
        company_id: if seller_side { item.seller } else { item.buyer }.into(),
        counterparty_company_id: if seller_side { item.buyer } else { item.seller }.into(),
        seller_side,
        kind,
        amount,
        currency: if seller_side { document } else { buyer },
        document_amount: doc,
        document_currency: document,
        rate: if seller_side { Decimal::ONE } else { rate },
        true_up: None,
        reason: None,
        settles: Some(if seller_side {
            item.seller_posting
        } else {
            item.buyer_posting
        }),
    };
    ledger::post(
        conn,
        group,
        None,
        date,
        &[
            leg(true, EntryKind::Settlement, legs.seller_settlement, cleared),
            leg(false, EntryKind::Settlement, legs.buyer_settlement, cleared),
            leg(
                false,
                EntryKind::FxDifference,
                legs.fx_difference,
                Decimal::ZERO,
            ),
        ],
    )
    .await?;
    Ok(())
}
