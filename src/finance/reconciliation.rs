//! Reconciliation (§7): both legs of every seller/buyer pair at a period's end, compared in
//! the document currency, with the buyer's payable remeasured and the one-sided documents named.

use actix_web::{get, web, HttpRequest, HttpResponse};
use chrono::{DateTime, TimeDelta, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Date, Numeric, Text, Uuid as SqlUuid};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use rust_decimal::Decimal;
use uuid::Uuid;

use super::dto::*;
use crate::db::statement::statement;
use crate::domain::calendar::BusinessDay;
use crate::domain::kinds::LedgerSide;
use crate::domain::period::Month;
use crate::domain::{fx, money, netting};
use crate::error::ApiError;
use crate::identity::auth::{Authorized, Finance};
use crate::ids::GroupId;
use crate::state::AppState;

use super::reports::{balances, bounds, currencies, currency, month_report, Balance, Rates};
use crate::csv::{csv, moment};

#[derive(QueryableByName)]
struct Adjustment {
    #[diesel(sql_type = SqlUuid)]
    id: Uuid,
    #[diesel(sql_type = SqlUuid)]
    company_id: Uuid,
    #[diesel(sql_type = SqlUuid)]
    counterparty_company_id: Uuid,
    #[diesel(sql_type = Text)]
    side: LedgerSide,
    #[diesel(sql_type = Numeric)]
    amount: Decimal,
    #[diesel(sql_type = Text)]
    currency: String,
    #[diesel(sql_type = Numeric)]
    document_amount: Decimal,
    #[diesel(sql_type = Text)]
    reason: String,
}

/// The reconciliation of `period` as it stands now (in the caller's transaction).
pub async fn compute(
    conn: &mut AsyncPgConnection,
    group: GroupId,
    period: Month,
    day: BusinessDay,
    closed_at: Option<DateTime<Utc>>,
) -> Result<ReconciliationView, ApiError> {
    let today = day.today;
    let (_, next, as_of) = bounds(period, today)?;
    let until = next.min(as_of + TimeDelta::days(1));
    let (companies, group_currency) = currencies(conn, group).await?;
    let adjustments: Vec<Adjustment> = statement(
        "SELECT id, company_id, counterparty_company_id, side, amount, currency, document_amount, \
                reason \
         FROM ledger_entries e \
         WHERE group_id = $1 AND kind = 'adjustment' AND date < $2 \
           AND NOT EXISTS (SELECT 1 FROM ledger_entries s \
                           WHERE s.settles_posting_id = e.posting_id AND s.side = e.side \
                             AND s.kind = 'settlement' AND s.date < $2) \
         ORDER BY seq",
    )
    .bind::<SqlUuid, _>(group)
    .bind::<Date, _>(until)
    .load(conn)
    .await?;
    let mut rates = Rates::new(group);
    let mut pairs = Vec::new();
    for balance in balances(conn, group, until).await? {
        let document = balance.document_currency;
        let buyer_currency = *companies
            .get(&balance.buyer_company_id)
            .ok_or_else(|| ApiError::internal("a pair's buyer is missing"))?;
        let difference = balance.receivable - balance.payable;
        let to_buyer = rates.get(conn, document, buyer_currency, as_of).await?;
        let to_group = rates.get(conn, document, group_currency, as_of).await?;
        let remeasured = fx::convert(balance.payable, to_buyer, buyer_currency)?;
        let unmatched = unmatched_of(&adjustments, &balance)
            .into_iter()
            .map(|a| UnmatchedView {
                document: a.id.to_string(),
                company_id: a.company_id,
                amount: currency(&a.currency)
                    .map(|c| money::format(a.amount, c))
                    .unwrap_or_else(|_| a.amount.to_string()),
                currency: a.currency.clone(),
                reason: a.reason.clone(),
            })
            .collect();
        pairs.push(PairView {
            seller_company_id: balance.seller_company_id,
            buyer_company_id: balance.buyer_company_id,
            currency: document.to_string(),
            receivable: money::format(balance.receivable, document),
            payable: money::format(balance.payable, document),
            difference: money::format(difference, document),
            status: if difference.is_zero() {
                PairStatus::Matched
            } else {
                PairStatus::Mismatched
            },
            buyer_currency: buyer_currency.to_string(),
            payable_booked: money::format(balance.payable_booked, buyer_currency),
            payable_remeasured: money::format(remeasured, buyer_currency),
            unrealised_fx: money::format(remeasured - balance.payable_booked, buyer_currency),
            difference_group: money::format(
                fx::convert(difference, to_group, group_currency)?,
                group_currency,
            ),
            unmatched,
        });
    }
    Ok(ReconciliationView {
        period: period.to_string(),
        group_currency: group_currency.to_string(),
        as_of,
        pairs,
        closed_at,
    })
}

month_report! {
    /// Reconciliation of every seller/buyer pair at the period's end (finance): open balances
    /// compared in the document currency, the buyer's payable remeasured at the period-end rate,
    /// the difference in the group currency, and the one-sided documents. A closed month answers
    /// the figures stored when it closed.
    reconciliation: GET "/finance/reconciliation" answers ReconciliationView,
    stored as Reconciliation, computed by compute, CSV by to_csv,
}

fn to_csv(view: &ReconciliationView) -> HttpResponse {
    let group_currency = &view.group_currency;
    let pairs = &view.pairs;
    csv(
        &crate::csv_columns![
            seller_company_id, buyer_company_id, currency, #receivable, #payable, #difference,
            status, buyer_currency, #payable_booked, #payable_remeasured, #unrealised_fx,
            #difference_group, group_currency, unmatched_documents, closed_at,
        ],
        pairs.iter().map(|p| {
            vec![
                p.seller_company_id.to_string(),
                p.buyer_company_id.to_string(),
                p.currency.clone(),
                p.receivable.clone(),
                p.payable.clone(),
                p.difference.clone(),
                match p.status {
                    PairStatus::Matched => "matched".into(),
                    PairStatus::Mismatched => "mismatched".into(),
                },
                p.buyer_currency.clone(),
                p.payable_booked.clone(),
                p.payable_remeasured.clone(),
                p.unrealised_fx.clone(),
                p.difference_group.clone(),
                group_currency.clone(),
                p.unmatched
                    .iter()
                    .map(|u| u.document.clone())
                    .collect::<Vec<_>>()
                    .join(" "),
                moment(view.closed_at),
            ]
        }),
    )
}

/// The pair's adjustments (those still open at the period's end: a countered pair settled by
/// netting is gone) that no adjustment of the other side counters (same document amount), in
/// booking order.
fn unmatched_of<'a>(adjustments: &'a [Adjustment], pair: &Balance) -> Vec<&'a Adjustment> {
    let of_pair: Vec<&Adjustment> = adjustments
        .iter()
        .filter(|a| {
            let (seller, buyer) = if a.side == LedgerSide::Seller {
                (a.company_id, a.counterparty_company_id)
            } else {
                (a.counterparty_company_id, a.company_id)
            };
            seller == pair.seller_company_id && buyer == pair.buyer_company_id
        })
        .collect();
    let sides: Vec<_> = of_pair
        .iter()
        .map(|a| (a.side, a.document_amount))
        .collect();
    netting::uncountered(&sides)
        .into_iter()
        .filter_map(|at| of_pair.get(at).copied())
        .collect()
}
