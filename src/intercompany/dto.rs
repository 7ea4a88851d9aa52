//! Request and response shapes of transfer-pricing policies and intercompany orders.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::domain::intercompany::Status;
use crate::domain::period::Month;
use crate::domain::transfer_pricing::Method;
use crate::fields::SignedPercent;

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PolicyView {
    pub id: Uuid,
    pub seller_company_id: Uuid,
    /// Null: every buyer.
    pub buyer_company_id: Option<Uuid>,
    /// Null: every category.
    pub category_id: Option<Uuid>,
    pub method: Method,
    /// Decimal string, e.g. `"8"` (may be negative for `comparable_price`).
    #[schema(example = "8")]
    pub percent: String,
    pub min_markup_percent: Option<String>,
    pub max_markup_percent: Option<String>,
    pub target_markup_percent: Option<String>,
    pub valid_from: NaiveDate,
    pub valid_to: Option<NaiveDate>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// The version this one superseded (null for a first version).
    pub supersedes: Option<Uuid>,
}

/// A new version of a policy from `valid_from` on: the terms not given are the old version's.
/// The old version ends the day before.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PolicySupersede {
    /// After the last order the old version priced, and after its own `valid_from`.
    pub valid_from: NaiveDate,
    pub method: Option<Method>,
    pub percent: Option<SignedPercent>,
    // Absent (keep) and null (clear) must hash apart for Idempotency-Key.
    #[serde(
        default,
        deserialize_with = "crate::identity::dto::double_option",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<SignedPercent>)]
    pub min_markup_percent: Option<Option<SignedPercent>>,
    // Absent (keep) and null (clear) must hash apart for Idempotency-Key.
    #[serde(
        default,
        deserialize_with = "crate::identity::dto::double_option",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<SignedPercent>)]
    pub max_markup_percent: Option<Option<SignedPercent>>,
    // Absent (keep) and null (clear) must hash apart for Idempotency-Key.
    #[serde(
        default,
        deserialize_with = "crate::identity::dto::double_option",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<SignedPercent>)]
    pub target_markup_percent: Option<Option<SignedPercent>>,
}

#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewPolicy {
    pub seller_company_id: Uuid,
    pub buyer_company_id: Option<Uuid>,
    pub category_id: Option<Uuid>,
    pub method: Method,
    /// Percent as a decimal string: at most 4 integer digits and 4 decimals.
    pub percent: SignedPercent,
    pub min_markup_percent: Option<SignedPercent>,
    pub max_markup_percent: Option<SignedPercent>,
    /// The markup a year-end true-up aims at; inside the range.
    pub target_markup_percent: Option<SignedPercent>,
    pub valid_from: NaiveDate,
    pub valid_to: Option<NaiveDate>,
}

/// Changes to a policy's parties, terms and validity. Once it priced a line, only `valid_to`
/// may change (409 `policy_in_use`).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PolicyPatch {
    pub seller_company_id: Option<Uuid>,
    /// Null: every buyer.
    #[serde(default, deserialize_with = "crate::identity::dto::double_option")]
    #[schema(value_type = Option<Uuid>)]
    pub buyer_company_id: Option<Option<Uuid>>,
    /// Null: every category.
    #[serde(default, deserialize_with = "crate::identity::dto::double_option")]
    #[schema(value_type = Option<Uuid>)]
    pub category_id: Option<Option<Uuid>>,
    pub method: Option<Method>,
    pub percent: Option<SignedPercent>,
    #[serde(default, deserialize_with = "crate::identity::dto::double_option")]
    #[schema(value_type = Option<SignedPercent>)]
    pub min_markup_percent: Option<Option<SignedPercent>>,
    #[serde(default, deserialize_with = "crate::identity::dto::double_option")]
    #[schema(value_type = Option<SignedPercent>)]
    pub max_markup_percent: Option<Option<SignedPercent>>,
    #[serde(default, deserialize_with = "crate::identity::dto::double_option")]
    #[schema(value_type = Option<SignedPercent>)]
    pub target_markup_percent: Option<Option<SignedPercent>>,
    pub valid_from: Option<NaiveDate>,
    #[serde(default, deserialize_with = "crate::identity::dto::double_option")]
    #[schema(value_type = Option<NaiveDate>)]
    pub valid_to: Option<Option<NaiveDate>>,
}

crate::paged_query! {
    pub struct PolicyQuery {
        pub seller_company_id: Option<Uuid>,
    }
}

#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IcLineRequest {
    pub product_id: Uuid,
    /// 1–1 000 000.
    #[schema(minimum = 1, maximum = 1_000_000)]
    pub quantity: i64,
}

#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewIcOrder {
    /// The caller's own company.
    pub buyer_company_id: Uuid,
    /// Another company of the same group.
    pub seller_company_id: Uuid,
    /// 1–50 lines, each product once, all sold by the seller.
    #[schema(min_items = 1, max_items = 50)]
    pub lines: Vec<IcLineRequest>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct IcLineView {
    pub product_id: Uuid,
    pub quantity: i32,
    pub policy_id: Uuid,
    pub method: Method,
    /// The policy's percent when the line was priced (kept with the line for ever).
    pub percent: String,
    /// The arm's-length range the line was priced under (kept with the line).
    pub min_markup_percent: Option<String>,
    pub max_markup_percent: Option<String>,
    pub unit_cost: String,
    pub unit_transfer_price: String,
    pub line_total: String,
    /// Markup on cost achieved, in percent; null when the unit cost is zero.
    pub markup_percent: Option<String>,
    pub outside_arms_length_range: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum EntryKind {
    Receivable,
    Payable,
    Settlement,
    FxDifference,
    TrueUp,
    Adjustment,
}

impl EntryKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Receivable => "receivable",
            Self::Payable => "payable",
            Self::Settlement => "settlement",
            Self::FxDifference => "fx_difference",
            Self::TrueUp => "true_up",
            Self::Adjustment => "adjustment",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        [
            Self::Receivable,
            Self::Payable,
            Self::Settlement,
            Self::FxDifference,
            Self::TrueUp,
            Self::Adjustment,
        ]
        .into_iter()
        .find(|k| k.as_str() == raw)
    }
}

/// One ledger entry: `amount` in the booking company's `currency`, `document_amount` in the
/// document currency, converted at `rate`. Signed: a receivable or payable adds to the side's
/// open balance, a settlement clears it; an FX difference is the buyer's loss (positive) or gain.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct EntryView {
    pub company_id: Uuid,
    pub kind: EntryKind,
    pub amount: String,
    pub currency: String,
    pub document_amount: String,
    pub document_currency: String,
    pub rate: String,
    pub date: NaiveDate,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct IcOrderView {
    pub id: Uuid,
    pub number: String,
    pub status: Status,
    pub buyer_company_id: Uuid,
    pub seller_company_id: Uuid,
    /// The document currency: the seller's.
    pub currency: String,
    pub lines: Vec<IcLineView>,
    pub total: String,
    pub entries: Vec<EntryView>,
    /// The day whose policies priced the order.
    pub order_date: NaiveDate,
    /// Set by the seller on accept.
    pub promised_date: Option<NaiveDate>,
    pub ship_date: Option<NaiveDate>,
    pub settle_date: Option<NaiveDate>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A priced intercompany order that is not placed.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct IcQuoteView {
    pub buyer_company_id: Uuid,
    pub seller_company_id: Uuid,
    pub currency: String,
    pub lines: Vec<IcLineView>,
    pub total: String,
    pub order_date: NaiveDate,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AcceptBody {
    /// When the seller promises to ship (today or later).
    pub promised_date: Option<NaiveDate>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BookingBody {
    /// Booking date: today by default, never in the future.
    pub date: Option<NaiveDate>,
}

crate::paged_query! {
    pub struct IcOrderQuery {
        pub status: Option<Status>,
        pub buyer_company_id: Option<Uuid>,
        pub seller_company_id: Option<Uuid>,
        /// `YYYY-MM`: orders created in that month.
        #[param(value_type = Option<String>, pattern = r"^[0-9]{4}-(0[1-9]|1[0-2])$")]
        pub period: Option<Month>,
    }
}
