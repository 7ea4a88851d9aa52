//! Request and response shapes of the finance endpoints.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::domain::period::Month;
use crate::fields::Reason;

pub use crate::domain::consolidation::Account;

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ClosedPeriodView {
    /// `YYYY-MM`.
    #[schema(example = "2026-10")]
    pub period: String,
    pub closed_by: Uuid,
    pub closed_at: DateTime<Utc>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PeriodQuery {
    /// `YYYY-MM`.
    // Text until the role check has passed (a query string is read before it):
    // [`PeriodQuery::month`] parses it in the handler.
    #[param(pattern = r"^[0-9]{4}-(0[1-9]|1[0-2])$")]
    pub period: String,
}

impl PeriodQuery {
    /// The month asked for (400 naming `period` when it names none).
    pub fn month(&self) -> Result<Month, crate::error::ApiError> {
        crate::validation::period(&self.period)
    }
}

pub use crate::domain::intercompany::AdjustmentSide;

#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewAdjustment {
    /// The company whose side is adjusted.
    pub company_id: Uuid,
    pub counterparty_company_id: Uuid,
    pub side: AdjustmentSide,
    /// Signed, in the pair's document currency (the seller's).
    #[schema(example = "-25.00")]
    pub amount: String,
    pub date: NaiveDate,
    /// 1–500 characters on one line with a visible one: the credit note, the dispute.
    pub reason: Reason,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AdjustmentView {
    pub id: Uuid,
    pub company_id: Uuid,
    pub counterparty_company_id: Uuid,
    pub side: AdjustmentSide,
    pub amount: String,
    pub currency: String,
    pub document_amount: String,
    pub document_currency: String,
    pub rate: String,
    pub date: NaiveDate,
    pub reason: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PairStatus {
    Matched,
    Mismatched,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct UnmatchedView {
    /// The document: the adjustment's id.
    pub document: String,
    pub company_id: Uuid,
    pub amount: String,
    pub currency: String,
    pub reason: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PairView {
    pub seller_company_id: Uuid,
    pub buyer_company_id: Uuid,
    /// The document currency (the seller's).
    pub currency: String,
    /// The seller's open receivable at the period's end.
    pub receivable: String,
    /// The buyer's open payable at the period's end, in the document currency.
    pub payable: String,
    /// receivable − payable.
    pub difference: String,
    pub status: PairStatus,
    pub buyer_currency: String,
    /// The buyer's open payable in its currency, as booked.
    pub payable_booked: String,
    /// The same at the period-end rate.
    pub payable_remeasured: String,
    /// payable_remeasured − payable_booked, in the buyer's currency (positive = loss).
    pub unrealised_fx: String,
    /// `difference` in the group currency at the period-end rate.
    pub difference_group: String,
    pub unmatched: Vec<UnmatchedView>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ReconciliationView {
    pub period: String,
    pub group_currency: String,
    /// The rates' day: the period's last day, or today for the current period.
    pub as_of: NaiveDate,
    pub pairs: Vec<PairView>,
    /// When the month was closed (null while open).
    pub closed_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct EliminationView {
    pub seller_company_id: Uuid,
    pub buyer_company_id: Uuid,
    pub debit_account: Account,
    pub credit_account: Account,
    pub amount: String,
    pub description: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct EliminationsView {
    pub period: String,
    pub currency: String,
    pub entries: Vec<EliminationView>,
    pub total_debits: String,
    pub total_credits: String,
    /// When the month was closed: its figures are frozen as they stood then (null while open).
    pub closed_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct InternalSalesItem {
    pub company_id: Uuid,
    /// Employee orders fulfilled in the period (sales are recognised when earned).
    pub employee_sales: String,
    /// Intercompany revenue of the period: lines shipped in it and true-ups, less the seller's
    /// credit notes (negative receivable adjustments).
    pub intercompany_sales: String,
    pub total: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct InternalSalesView {
    pub period: String,
    pub currency: String,
    pub items: Vec<InternalSalesItem>,
    /// When the month was closed (null while open).
    pub closed_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct NettingQuery {
    /// `YYYY-MM-DD`: the rates' day and the settlement date (today by default).
    pub date: Option<NaiveDate>,
}

#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NettingRequest {
    /// Settlement date: not in the future, not in a closed period.
    pub date: NaiveDate,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PositionView {
    pub company_id: Uuid,
    /// Positive: owed money; negative: owes money (group currency).
    pub amount: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TransferView {
    pub from_company_id: Uuid,
    pub to_company_id: Uuid,
    pub amount: String,
    pub currency: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct NettingView {
    /// The run's id once booked (null for a proposal, or when there was nothing to settle).
    pub id: Option<Uuid>,
    pub date: NaiveDate,
    pub currency: String,
    pub positions: Vec<PositionView>,
    pub transfers: Vec<TransferView>,
    /// Whether `transfers` is the proven minimum (up to 12 companies with a non-zero
    /// position); beyond that the largest-first plan, at most n − 1 transfers.
    pub exact: bool,
    /// The intercompany orders settled (or to settle).
    pub orders: Vec<Uuid>,
    /// The other two-sided documents settled (or to settle), by ledger posting: booked
    /// true-ups, and one-sided adjustments countered by the other side.
    pub settled_postings: Vec<Uuid>,
    pub created_at: Option<DateTime<Utc>>,
}

crate::paged_query! {
    pub struct RunsQuery {
    }
}

/// One buyer's holdings at a month's end of goods bought from one sister company.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InventoryItem {
    pub buyer_company_id: Uuid,
    pub seller_company_id: Uuid,
    /// At transfer price, in the pair's document currency (the seller's); not negative, with
    /// at most that currency's minor-unit digits.
    #[schema(example = "1650.00", pattern = r"^[0-9]{1,13}(\.[0-9]{1,4})?$")]
    pub amount: String,
}

/// The month's intercompany inventory: replaces whatever was reported for it before.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InventoryReport {
    #[schema(max_items = 1000)]
    pub items: Vec<InventoryItem>,
}
