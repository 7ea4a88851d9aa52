//! Shapes of the internal-service KPI report.

use crate::domain::period::Month;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct KpiQuery {
    /// `YYYY-MM`, a month of the group's time zone. Default: the current month.
    #[param(value_type = Option<String>, pattern = r"^[0-9]{4}-(0[1-9]|1[0-2])$")]
    pub period: Option<Month>,
}

/// One selling company's figures for the month. Hours are medians, rates and the average are
/// decimal strings (rates in [0, 1]); each is null when nothing counts toward it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct KpiItem {
    pub company_id: Uuid,
    /// Employee orders placed with the company in the month (any status).
    pub employee_orders: i64,
    /// Median hours from placing to fulfilment, over those fulfilled.
    #[schema(example = "26.5")]
    pub employee_fulfilment_hours_p50: Option<String>,
    /// Intercompany orders requested from the company in the month (any status).
    pub intercompany_orders: i64,
    /// Median hours from request to acceptance, over those accepted.
    pub acceptance_hours_p50: Option<String>,
    /// Median hours from acceptance to shipping, over those shipped.
    pub shipping_hours_p50: Option<String>,
    /// Among the orders whose promised date falls in the month, those shipped (by the moment
    /// shipping was recorded) by the end of that day; an unshipped one counts as late.
    #[schema(example = "0.75")]
    pub on_time_rate: Option<String>,
    /// Orders past their promised date and not shipped at the month's end (or now, while it
    /// runs), whenever they were promised.
    pub overdue_open: i64,
    /// Rejected among the orders the seller answered (accepted or rejected).
    pub rejection_rate: Option<String>,
    /// Feedback on the month's orders (both kinds).
    pub feedback_count: i64,
    /// Mean rating of that feedback, two decimals.
    #[schema(example = "4.25")]
    pub average_rating: Option<String>,
    /// Orders with feedback among those eligible for it (fulfilled or shipped).
    pub response_rate: Option<String>,
    /// Feedback answered by the seller among feedback received.
    pub replied_rate: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct KpiReport {
    #[schema(example = "2026-11")]
    pub period: String,
    pub items: Vec<KpiItem>,
    /// When the month was closed: its figures are frozen as they stood then (null while open).
    pub closed_at: Option<chrono::DateTime<chrono::Utc>>,
}
