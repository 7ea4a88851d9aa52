//! Request and response shapes of employee orders. Clients send only product ids and
//! quantities; every price is computed by the server.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::domain::codes::CurrencyCode;
use crate::domain::period::Month;
pub use crate::payroll::{Payment, ScheduleLineView};

pub use crate::domain::kinds::OrderStatus;

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OrderLineRequest {
    pub product_id: Uuid,
    /// 1–1000.
    #[schema(minimum = 1, maximum = 1000)]
    pub quantity: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewOrder {
    /// 1–50 lines, each product once, all from one seller company.
    #[schema(min_items = 1, max_items = 50)]
    pub lines: Vec<OrderLineRequest>,
    /// Bought for a member of the caller's household (`GET /me/household`): priced and
    /// limited as the caller's own order, and the caller's benefit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub for_member_id: Option<Uuid>,
    /// Paid from wages (`{"method": "payroll", "instalments": N}`) over the next N pay dates
    /// of the employer, if the employer offers it and its rules allow (§5); otherwise paid
    /// when the order is collected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment: Option<Payment>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct OrderLineView {
    pub product_id: Uuid,
    pub quantity: i32,
    pub unit_list_price: String,
    pub discount_percent: String,
    pub line_list_total: String,
    pub line_discount: String,
    pub line_total: String,
}

/// What a quote and an order share: the seller, the priced lines and totals, the allowance
/// and how it is paid.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PricedView {
    pub seller_company_id: Uuid,
    /// The seller's currency; all line amounts and totals are in it.
    #[schema(value_type = CurrencyCode)]
    pub currency: String,
    pub lines: Vec<OrderLineView>,
    pub list_total: String,
    pub discount_total: String,
    pub total: String,
    /// The discount in the group currency, counted against the annual allowance.
    pub allowance_applied: String,
    /// The group currency (of `allowance_applied`).
    #[schema(value_type = CurrencyCode)]
    pub allowance_currency: String,
    /// Converts the order currency to the group currency.
    pub fx_rate: String,
    /// How it is (for a quote: would be) paid, when from wages.
    pub payment: Option<Payment>,
    /// The payroll schedule (empty when not paid from wages). A quote's is the one the order
    /// would have; an order's stands as it is: the lines not cancelled sum to the total, or,
    /// once the order is cancelled, to nothing (what was deducted and its refund).
    pub schedule: Vec<ScheduleLineView>,
}

/// A priced order before it is placed.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct QuoteView {
    pub employee_id: Uuid,
    /// The household member it would be bought for, if any.
    pub for_member_id: Option<Uuid>,
    #[serde(flatten)]
    pub priced: PricedView,
    /// When it was priced.
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct OrderView {
    pub id: Uuid,
    pub number: String,
    pub status: OrderStatus,
    pub employee_id: Uuid,
    /// The household member it was bought for, if any.
    pub for_member_id: Option<Uuid>,
    #[serde(flatten)]
    pub priced: PricedView,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

crate::paged_query! {
    pub struct OrderListQuery {
        /// Finance and admin only (employees always see their own orders).
        pub employee_id: Option<Uuid>,
        /// The seller company.
        pub company_id: Option<Uuid>,
        pub status: Option<OrderStatus>,
        /// `YYYY-MM`: orders placed in that month of the group's time zone.
        #[param(value_type = Option<String>, pattern = r"^[0-9]{4}-(0[1-9]|1[0-2])$")]
        pub period: Option<Month>,
    }
}
