//! Request and response shapes of the catalog API (field names are the front-end's contract).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::domain::codes::CurrencyCode;
use crate::fields::{Code, Name, Percent, Reason, Sku};
use crate::identity::dto::{double_option, EmploymentType};

pub use crate::domain::kinds::{LimitPeriod, ProductKind};

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CategoryView {
    pub id: Uuid,
    pub code: String,
    pub name: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewCategory {
    pub code: Code,
    pub name: Name,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CategoryDiscountView {
    pub category_id: Uuid,
    pub discount_percent: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TierView {
    pub id: Uuid,
    pub code: String,
    pub name: String,
    pub discount_percent: String,
    /// In the group currency (`currency`); null = unlimited.
    pub annual_allowance: Option<String>,
    /// The group currency, in which `annual_allowance` is counted.
    pub currency: String,
    pub eligible_employment_types: Vec<EmploymentType>,
    /// Per-category overrides of `discount_percent`.
    pub category_discounts: Vec<CategoryDiscountView>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTier {
    pub code: Code,
    pub name: Name,
    pub discount_percent: Percent,
    /// Plain decimal string in the group currency (at most 13 integer digits and its minor-unit
    /// digits); null or absent = unlimited.
    #[schema(example = "500.00", pattern = r"^[0-9]{1,13}(\.[0-9]{1,4})?$")]
    pub annual_allowance: Option<String>,
    /// Defaults to both `direct` and `outsourced`.
    pub eligible_employment_types: Option<Vec<EmploymentType>>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TierPatch {
    pub code: Option<Code>,
    pub name: Option<Name>,
    pub discount_percent: Option<Percent>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>, nullable, pattern = r"^[0-9]{1,13}(\.[0-9]{1,4})?$")]
    pub annual_allowance: Option<Option<String>>,
    pub eligible_employment_types: Option<Vec<EmploymentType>>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CategoryDiscount {
    pub discount_percent: Percent,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PurchaseLimit {
    #[schema(minimum = 1, maximum = 1_000_000)]
    pub max_quantity: i32,
    pub period: LimitPeriod,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PurchaseLimitView {
    pub max_quantity: i32,
    pub period: LimitPeriod,
    /// What the signed-in employee may still buy in the current month/year.
    pub remaining: i32,
}

/// A product as the signed-in employee sees it; admins also get the admin fields.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ProductView {
    pub id: Uuid,
    pub sku: String,
    pub name: String,
    pub description: String,
    pub category_id: Uuid,
    pub seller_company_id: Uuid,
    /// The seller's currency.
    #[schema(value_type = CurrencyCode)]
    pub currency: String,
    pub kind: ProductKind,
    pub list_price: String,
    pub employee_price: String,
    pub discount_percent: String,
    pub stock_available: i32,
    pub purchase_limit: Option<PurchaseLimitView>,
    /// Admins only; the document lists these fields as optional properties of `ProductView`
    /// (see `openapi::admin_fields_optional`).
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    #[schema(ignore)]
    pub admin: Option<ProductAdminFields>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ProductAdminFields {
    pub unit_cost: String,
    pub stock_on_hand: i32,
    pub employee_eligible: bool,
    pub intercompany_eligible: bool,
    /// Also sold outside the group (qualified property for the benefits report).
    pub offered_to_customers: bool,
    pub active: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewProduct {
    pub sku: Sku,
    pub name: Name,
    #[schema(max_length = 4000, pattern = r"^[^\u0000]*$")]
    pub description: Option<String>,
    pub category_id: Uuid,
    pub seller_company_id: Uuid,
    pub kind: ProductKind,
    /// In the seller's currency: a plain decimal string with at most 13 integer digits and the
    /// currency's minor-unit digits (no exponent, `+`, `_` or spaces).
    #[schema(example = "49.90", pattern = r"^[0-9]{1,13}(\.[0-9]{1,4})?$")]
    pub list_price: String,
    #[schema(example = "21.30", pattern = r"^[0-9]{1,13}(\.[0-9]{1,4})?$")]
    pub unit_cost: String,
    /// Initial stock, 0..=1 000 000 000 (default 0); later changes go through
    /// `POST /products/{id}/stock`.
    #[schema(minimum = 0, maximum = 1_000_000_000)]
    pub stock_on_hand: Option<i32>,
    pub employee_eligible: Option<bool>,
    pub intercompany_eligible: Option<bool>,
    /// Also sold outside the group (default true).
    pub offered_to_customers: Option<bool>,
    pub active: Option<bool>,
    pub purchase_limit: Option<PurchaseLimit>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProductPatch {
    pub sku: Option<Sku>,
    pub name: Option<Name>,
    #[schema(max_length = 4000, pattern = r"^[^\u0000]*$")]
    pub description: Option<String>,
    pub category_id: Option<Uuid>,
    pub kind: Option<ProductKind>,
    #[schema(pattern = r"^[0-9]{1,13}(\.[0-9]{1,4})?$")]
    pub list_price: Option<String>,
    #[schema(pattern = r"^[0-9]{1,13}(\.[0-9]{1,4})?$")]
    pub unit_cost: Option<String>,
    pub employee_eligible: Option<bool>,
    pub intercompany_eligible: Option<bool>,
    pub offered_to_customers: Option<bool>,
    pub active: Option<bool>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<PurchaseLimit>, nullable)]
    pub purchase_limit: Option<Option<PurchaseLimit>>,
}

#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StockAdjustment {
    /// Signed change of `stock_on_hand`, non-zero and within ±1 000 000 000; the result must
    /// stay within 0..=1 000 000 000 (below zero → 409 `insufficient_stock`).
    #[schema(minimum = -1_000_000_000, maximum = 1_000_000_000)]
    pub delta: i32,
    pub reason: Reason,
}

crate::paged_query! {
    pub struct ProductListQuery {
        pub category_id: Option<Uuid>,
        pub seller_company_id: Option<Uuid>,
        /// Case-insensitive substring of the name or sku.
        #[param(max_length = 100)]
        pub q: Option<String>,
    }
}
