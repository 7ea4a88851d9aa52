//! The ledger side of intercompany trade: the entries both companies book for a document,
//! posted together so that the database can check that their legs agree.

use chrono::NaiveDate;
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use rust_decimal::Decimal;
use uuid::Uuid;

use super::dto::EntryKind;
use super::queries::{company_currency, OrderRow};
use crate::db::schema::ledger_entries as entries;
use crate::domain::codes::CurrencyCode;
use crate::domain::intercompany;
use crate::domain::kinds::LedgerSide;
use crate::error::ApiError;
use crate::ids::{CompanyId, GroupId, IcOrderId};

/// One ledger entry about to be booked.
pub struct Entry {
    pub company_id: CompanyId,
    pub counterparty_company_id: CompanyId,
    pub seller_side: bool,
    pub kind: EntryKind,
    pub amount: Decimal,
    pub currency: CurrencyCode,
    pub document_amount: Decimal,
    pub document_currency: CurrencyCode,
    pub rate: Decimal,
    /// For a true-up: the policy and year it corrects.
    pub true_up: Option<(Uuid, i32)>,
    /// For a one-sided adjustment: why.
    pub reason: Option<String>,
    /// For the settlement of a true-up or an adjustment: the posting it clears.
    pub settles: Option<Uuid>,
}

/// Books `entries` as one posting of `order`, dated `date`, and answers the new entries' ids
/// in the order given. The database checks at commit that both legs carry the same document
/// amount.
pub async fn post(
    conn: &mut AsyncPgConnection,
    group: GroupId,
    order: Option<IcOrderId>,
    date: NaiveDate,
    posting: &[Entry],
) -> Result<Vec<Uuid>, ApiError> {
    let posting_id = crate::ids::fresh();
    // Ids are made here rather than by the column default so that the answer maps to the
    // entries given without relying on the order of RETURNING rows.
    let ids: Vec<Uuid> = posting.iter().map(|_| crate::ids::fresh()).collect();
    let values: Vec<_> = posting
        .iter()
        .zip(&ids)
        .map(|(e, id)| {
            (
                entries::id.eq(*id),
                entries::group_id.eq(group),
                entries::posting_id.eq(posting_id),
                entries::order_id.eq(order),
                entries::company_id.eq(e.company_id),
                entries::counterparty_company_id.eq(e.counterparty_company_id),
                entries::side.eq(if e.seller_side {
                    LedgerSide::Seller
                } else {
                    LedgerSide::Buyer
                }),
                entries::kind.eq(e.kind.as_str()),
                entries::amount.eq(e.amount),
                entries::currency.eq(e.currency.as_str()),
                entries::document_amount.eq(e.document_amount),
                entries::document_currency.eq(e.document_currency.as_str()),
                entries::rate.eq(e.rate),
                entries::date.eq(date),
                entries::policy_id.eq(e.true_up.map(|(policy, _)| policy)),
                entries::true_up_year.eq(e.true_up.map(|(_, year)| year)),
                entries::reason.eq(e.reason.as_deref()),
                entries::settles_posting_id.eq(e.settles),
            )
        })
        .collect();
    diesel::insert_into(entries::table)
        .values(&values)
        .execute(conn)
        .await?;
    Ok(ids)
}

/// What the buyer booked as payable for `order` (its own currency).
pub async fn booked_payable(
    conn: &mut AsyncPgConnection,
    order: IcOrderId,
) -> Result<Decimal, ApiError> {
    let amounts: Vec<Decimal> = entries::table
        .filter(entries::order_id.eq(order))
        .filter(entries::kind.eq(EntryKind::Payable.as_str()))
        .select(entries::amount)
        .load(conn)
        .await?;
    Ok(amounts.into_iter().sum())
}

/// Books the seller's receivable (document currency) and the buyer's payable (its currency at
/// the ship date's rate) from the one document total.
pub async fn book_shipment(
    conn: &mut AsyncPgConnection,
    group: GroupId,
    order: &OrderRow,
    date: NaiveDate,
) -> Result<(), ApiError> {
    let document = order.currency;
    let buyer = buyer_currency(conn, group, order).await?;
    let rate = crate::fx::queries::rate(conn, group, document, buyer, date).await?;
    let legs = intercompany::ship_legs(order.total, rate, buyer)?;
    post(
        conn,
        group,
        Some(order.id),
        date,
        &[
            Entry {
                company_id: order.seller_company_id,
                counterparty_company_id: order.buyer_company_id,
                seller_side: true,
                kind: EntryKind::Receivable,
                amount: legs.receivable,
                currency: document,
                document_amount: order.total,
                document_currency: document,
                rate: rust_decimal::Decimal::ONE,
                true_up: None,
                reason: None,
                settles: None,
            },
            Entry {
                company_id: order.buyer_company_id,
                counterparty_company_id: order.seller_company_id,
                seller_side: false,
                kind: EntryKind::Payable,
                amount: legs.payable,
                currency: buyer,
                document_amount: order.total,
                document_currency: document,
                rate,
                true_up: None,
                reason: None,
                settles: None,
            },
        ],
    )
    .await?;
    Ok(())
}

/// Books the settlement of both sides at the settle date's rate and the buyer's realised FX
/// difference against what it booked at shipping.
pub async fn book_settlement(
    conn: &mut AsyncPgConnection,
    group: GroupId,
    order: &OrderRow,
    date: NaiveDate,
) -> Result<(), ApiError> {
    let document = order.currency;
    let buyer = buyer_currency(conn, group, order).await?;
    let rate = crate::fx::queries::rate(conn, group, document, buyer, date).await?;
    let booked = booked_payable(conn, order.id).await?;
    let legs = intercompany::settle_legs(order.total, booked, rate, buyer)?;
    post(
        conn,
        group,
        Some(order.id),
        date,
        &[
            Entry {
                company_id: order.seller_company_id,
                counterparty_company_id: order.buyer_company_id,
                seller_side: true,
                kind: EntryKind::Settlement,
                amount: legs.seller_settlement,
                currency: document,
                document_amount: -order.total,
                document_currency: document,
                rate: rust_decimal::Decimal::ONE,
                true_up: None,
                reason: None,
                settles: None,
            },
            Entry {
                company_id: order.buyer_company_id,
                counterparty_company_id: order.seller_company_id,
                seller_side: false,
                kind: EntryKind::Settlement,
                amount: legs.buyer_settlement,
                currency: buyer,
                document_amount: -order.total,
                document_currency: document,
                rate,
                true_up: None,
                reason: None,
                settles: None,
            },
            Entry {
                company_id: order.buyer_company_id,
                counterparty_company_id: order.seller_company_id,
                seller_side: false,
                kind: EntryKind::FxDifference,
                amount: legs.fx_difference,
                currency: buyer,
                document_amount: rust_decimal::Decimal::ZERO,
                document_currency: document,
                rate,
                true_up: None,
                reason: None,
                settles: None,
            },
        ],
    )
    .await?;
    Ok(())
}

async fn buyer_currency(
    conn: &mut AsyncPgConnection,
    group: GroupId,
    order: &OrderRow,
) -> Result<CurrencyCode, ApiError> {
    company_currency(conn, group, order.buyer_company_id)
        .await?
        .ok_or_else(|| ApiError::internal("the buyer's currency is unknown"))
}
