//! Request and response shapes of feedback.

use crate::domain::period::Month;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// Which kind of order a feedback rates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OrderKind {
    /// An employee order (`/orders/{id}`), rated by the employee who bought it.
    Employee,
    /// An intercompany order (`/intercompany-orders/{id}`), rated by a purchaser of the buyer.
    Intercompany,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewFeedback {
    /// 1–5.
    #[schema(minimum = 1, maximum = 5, example = 4)]
    pub rating: i64,
    /// 1–2000 characters with at least one visible character (a blank comment is refused:
    /// leave it out, or send null, for none).
    #[schema(
        min_length = 1,
        max_length = 2000,
        pattern = r"^[^\u0000]*[^\u0000-\u0020\u007f-\u00a0\u00ad\u1680\u180e\u2000-\u200f\u2028-\u202f\u205f-\u2064\u3000\ufeff][^\u0000]*$"
    )]
    pub comment: Option<String>,
}

/// Changes to a feedback within 7 days of giving it; `comment: null` removes the comment.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FeedbackPatch {
    /// 1–5.
    #[schema(minimum = 1, maximum = 5, example = 4)]
    pub rating: Option<i64>,
    #[serde(default, deserialize_with = "crate::identity::dto::double_option")]
    /// 1–2000 characters with at least one visible character; null removes the comment.
    #[schema(
        value_type = Option<String>,
        min_length = 1,
        max_length = 2000,
        pattern = r"^[^\u0000]*[^\u0000-\u0020\u007f-\u00a0\u00ad\u1680\u180e\u2000-\u200f\u2028-\u202f\u205f-\u2064\u3000\ufeff][^\u0000]*$"
    )]
    pub comment: Option<Option<String>>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewReply {
    /// 1–2000 characters with at least one visible character.
    #[schema(
        min_length = 1,
        max_length = 2000,
        pattern = r"^[^\u0000]*[^\u0000-\u0020\u007f-\u00a0\u00ad\u1680\u180e\u2000-\u200f\u2028-\u202f\u205f-\u2064\u3000\ufeff][^\u0000]*$"
    )]
    pub comment: String,
}

/// The seller's answer.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ReplyView {
    pub comment: String,
    pub replied_by: Uuid,
    pub replied_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct FeedbackView {
    pub id: Uuid,
    pub order_kind: OrderKind,
    /// The rated order: an employee order or an intercompany order, by `order_kind`.
    pub order_id: Uuid,
    /// The company whose service is rated (the order's seller).
    pub seller_company_id: Uuid,
    /// Who gave the feedback.
    pub author_id: Uuid,
    pub rating: i32,
    pub comment: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// The last moment the author may change it (7 days after it was given).
    pub editable_until: DateTime<Utc>,
    /// The seller's answer; null until given.
    pub reply: Option<ReplyView>,
}

crate::paged_query! {
    pub struct FeedbackQuery {
        /// The seller company whose feedback to list. Purchasers: their own company (the default);
        /// finance and admins: any company of the group, or the whole group when absent.
        pub company_id: Option<Uuid>,
        /// `YYYY-MM`: feedback given in that month of the group's time zone.
        #[param(value_type = Option<String>, pattern = r"^[0-9]{4}-(0[1-9]|1[0-2])$")]
        pub period: Option<Month>,
        /// 1–5.
        #[param(minimum = 1, maximum = 5)]
        pub min_rating: Option<i64>,
        /// 1–5, not below `min_rating`.
        #[param(minimum = 1, maximum = 5)]
        pub max_rating: Option<i64>,
    }
}
