//! The placement's write statement (`placement.sql`): its four cuts, everything it binds
//! ([`Write`]), and what its refusals mean ([`AbortReason`]). `placement` decides what to write
//! and what to do when the statement gives up.

use std::sync::LazyLock;

use chrono::{DateTime, NaiveDate, Utc};
use diesel::sql_types::Uuid as SqlUuid;
use diesel::sql_types::{Array, Date, Integer, Jsonb, Nullable, Numeric, Text, Timestamptz};
use diesel::QueryableByName;
use diesel_async::AsyncPgConnection;
use diesel_async::RunQueryDsl;
use rust_decimal::Decimal;
use uuid::Uuid;

use super::pricing::Context;
use crate::catalog::queries::ProductRow;
use crate::db::statement::statement;
use crate::domain::allowance::{self, PricedOrder};
use crate::domain::payroll::Plan;
use crate::idempotency::IdempotencyKey;
use crate::identity::auth::CurrentUser;
use crate::ids::{OrderId, ProductId};

#[derive(QueryableByName)]
pub(super) struct Written {
    #[diesel(sql_type = Text)]
    pub number: String,
}

/// The placement statement, its audit and key writes headed by the modules that own those
/// tables (filled in once), in its four cuts: with or without the purchase-limit section, with
/// or without the payroll section (see [`cut`]). Each text never changes, so every connection
/// prepares each once.
static PLACEMENT: LazyLock<[String; 4]> = LazyLock::new(|| {
    let full = include_str!("placement.sql")
        .replace("{record_change}", crate::record_change!())
        .replace("{store_answer}", crate::store_answer!());
    [(false, false), (true, false), (false, true), (true, true)]
        .map(|(limits, payroll)| cut(&cut(&full, "limits", limits), "payroll", payroll))
});

/// The placement statement for an order with (or without) purchase-limited lines and paid (or
/// not) from wages: PostgreSQL starts every write a statement holds on each execution, even
/// one that has no rows to write, so an order sends only the sections it can use.
pub(super) fn placement_sql(limits: bool, payroll: bool) -> &'static str {
    let index = usize::from(limits) + 2 * usize::from(payroll);
    PLACEMENT.get(index).map_or("", String::as_str)
}

/// `text` with the lines between `--<name>` and `--</name>` kept (`keep`) or cut; the marker
/// lines themselves always go.
fn cut(text: &str, name: &str, keep: bool) -> String {
    let (open, close) = (format!("--<{name}>"), format!("--</{name}>"));
    let mut inside = false;
    let mut out = String::with_capacity(text.len());
    for line in text.split_inclusive('\n') {
        match line.trim() {
            marker if marker == open => inside = true,
            marker if marker == close => inside = false,
            _ if !inside || keep => out.push_str(line),
            _ => {}
        }
    }
    out
}

/// Why the write statement gave up (`abort_statement` or a constraint in `placement.sql`),
/// parsed once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum AbortReason {
    /// Another request holds the key right now.
    RequestInProgress,
    /// A product's stock fell short (its CHECK): the read decides again which one, or that it
    /// was given back meanwhile.
    InsufficientStock,
    /// A product read a moment ago is gone (its line's foreign key): the read will say so.
    ProductGone,
    /// The allowance is no longer what the read saw.
    AllowanceMoved,
    /// A product's purchase limit was set or changed since the read.
    LimitMoved,
    /// The first product (by id) over its limit, if known.
    PurchaseLimitExceeded(Option<Uuid>),
    /// The first pay date on which the deductions would pass the share of pay, if known.
    DeductionShareExceeded(Option<NaiveDate>),
    /// The key was stored by a request that finished between the read and the write.
    KeyTaken,
    /// PostgreSQL rolled the statement back to break a deadlock: nothing was written, so it
    /// is simply tried again (the documented lock order should make this unreachable).
    Deadlock,
    /// A reason this code does not know (a bug, not a client error).
    Unknown,
}

impl AbortReason {
    pub(super) fn of(error: &diesel::result::Error) -> Option<Self> {
        use diesel::result::DatabaseErrorKind as Kind;
        let diesel::result::Error::DatabaseError(kind, info) = error else {
            return None;
        };
        match (kind, info.constraint_name()) {
            (Kind::CheckViolation, Some("products_stock_on_hand_check")) => {
                return Some(Self::InsufficientStock)
            }
            (Kind::ForeignKeyViolation, Some("order_lines_product_same_group")) => {
                return Some(Self::ProductGone)
            }
            (Kind::UniqueViolation, Some("idempotency_keys_pkey")) => return Some(Self::KeyTaken),
            _ if info.message() == crate::error::DEADLOCK => return Some(Self::Deadlock),
            _ => {}
        }
        let reason = info.message().strip_prefix("abort_statement:")?;
        let (reason, detail) = reason.split_once(':').unwrap_or((reason, ""));
        Some(match reason {
            "request_in_progress" => Self::RequestInProgress,
            "allowance_moved" => Self::AllowanceMoved,
            "limit_moved" => Self::LimitMoved,
            "purchase_limit_exceeded" => Self::PurchaseLimitExceeded(Uuid::parse_str(detail).ok()),
            "deduction_share_exceeded" => Self::DeductionShareExceeded(detail.parse().ok()),
            _ => Self::Unknown,
        })
    }
}

/// Everything the write statement binds, in one place.
pub(super) struct Write<'a> {
    /// (product, quantity) in id order.
    pub(super) stock: &'a [(&'a ProductRow, i32)],
    /// (product, period start, quantity) of the purchase-limited lines.
    pub(super) limited: &'a [(ProductId, NaiveDate, i32)],
    pub(super) lock_name: String,
    pub(super) user: &'a CurrentUser,
    pub(super) allowance_year: i32,
    /// The allowance used as the read saw it: the charge applies only if it is unchanged.
    pub(super) allowance_seen: Decimal,
    pub(super) ctx: &'a Context,
    pub(super) order: &'a PricedOrder,
    pub(super) order_id: OrderId,
    pub(super) for_member: Option<Uuid>,
    /// The schedule of an order paid from wages, and the employer whose payroll deducts it.
    pub(super) payroll: Option<(&'a Plan, Uuid)>,
    pub(super) now: DateTime<Utc>,
    pub(super) body: &'a serde_json::Value,
    pub(super) key: &'a IdempotencyKey,
    pub(super) scope: &'a str,
    pub(super) hash: &'a str,
}

impl Write<'_> {
    /// Each product's purchase limit as the read saw it (quantity, period), in `stock`'s
    /// order: the statement refuses if it moved since.
    fn limits_seen(&self) -> (Vec<Option<i32>>, Vec<Option<&'static str>>) {
        self.stock
            .iter()
            .map(|(p, _)| {
                let period = p.purchase_limit_period.map(|period| period.as_str());
                (p.purchase_limit_quantity, period)
            })
            .unzip()
    }

    /// The pay dates and amounts of an order paid from wages, and how many (none otherwise).
    fn instalments(&self) -> (Vec<NaiveDate>, Vec<Decimal>, Option<i32>) {
        let lines = self.payroll.map(|(plan, _)| plan.lines.as_slice());
        let lines = lines.unwrap_or_default();
        let (days, amounts) = lines
            .iter()
            .map(|(day, amount)| (*day, amount.amount()))
            .unzip();
        let count = self.payroll.and_then(|_| i32::try_from(lines.len()).ok());
        (days, amounts, count)
    }

    pub(super) async fn execute(
        self,
        conn: &mut AsyncPgConnection,
    ) -> diesel::QueryResult<Written> {
        let (ctx, order) = (self.ctx, self.order);
        let sql = placement_sql(!self.limited.is_empty(), self.payroll.is_some());
        let (limit_quantities, limit_periods) = self.limits_seen();
        let (pay_dates, instalments, instalment_count) = self.instalments();
        let lines = &order.lines;
        let column = |f: fn(&allowance::PricedLine) -> Decimal| -> Vec<Decimal> {
            lines.iter().map(f).collect()
        };
        let period_of = |product: ProductId| {
            self.limited
                .iter()
                .find(|(id, _, _)| *id == product)
                .map(|(_, start, _)| *start)
        };
        statement(sql)
            .bind::<Array<SqlUuid>, _>(self.stock.iter().map(|(p, _)| p.id).collect::<Vec<_>>())
            .bind::<Array<Integer>, _>(self.stock.iter().map(|(_, q)| *q).collect::<Vec<_>>())
            .bind::<Text, _>(self.lock_name)
            .bind::<SqlUuid, _>(self.user.id)
            .bind::<Integer, _>(self.allowance_year)
            .bind::<Numeric, _>(order.allowance_applied.amount())
            .bind::<Numeric, _>(self.allowance_seen)
            .bind::<Nullable<Numeric>, _>(ctx.cap)
            .bind::<Array<SqlUuid>, _>(self.limited.iter().map(|l| l.0).collect::<Vec<_>>())
            .bind::<Array<Date>, _>(self.limited.iter().map(|l| l.1).collect::<Vec<_>>())
            .bind::<Array<Integer>, _>(self.limited.iter().map(|l| l.2).collect::<Vec<_>>())
            .bind::<SqlUuid, _>(self.order_id)
            .bind::<SqlUuid, _>(ctx.seller)
            .bind::<Text, _>(ctx.currency.as_str())
            .bind::<Numeric, _>(order.list_total.amount())
            .bind::<Numeric, _>(order.discount_total.amount())
            .bind::<Numeric, _>(order.total.amount())
            .bind::<Text, _>(ctx.group_currency.as_str())
            .bind::<Numeric, _>(order.fx_rate)
            .bind::<Timestamptz, _>(self.now)
            .bind::<Array<SqlUuid>, _>(lines.iter().map(|l| l.product_id).collect::<Vec<_>>())
            .bind::<Array<Integer>, _>(
                lines
                    .iter()
                    .map(|l| i32::try_from(l.quantity).unwrap_or(i32::MAX))
                    .collect::<Vec<_>>(),
            )
            .bind::<Array<Numeric>, _>(column(|l| l.unit_list_price.amount()))
            .bind::<Array<Numeric>, _>(column(|l| l.discount_percent))
            .bind::<Array<Numeric>, _>(column(|l| l.line_list_total.amount()))
            .bind::<Array<Numeric>, _>(column(|l| l.line_discount.amount()))
            .bind::<Array<Numeric>, _>(column(|l| l.line_total.amount()))
            .bind::<Array<Nullable<Date>>, _>(
                lines
                    .iter()
                    .map(|l| period_of(ProductId::from(l.product_id)))
                    .collect::<Vec<_>>(),
            )
            .bind::<Jsonb, _>(self.body)
            .bind::<Nullable<Text>, _>(self.user.request_id.as_deref())
            .bind::<Text, _>(&self.key.0)
            .bind::<Text, _>(self.scope)
            .bind::<Text, _>(self.hash)
            .bind::<SqlUuid, _>(self.user.group_id)
            .bind::<Nullable<SqlUuid>, _>(self.for_member)
            .bind::<Array<Date>, _>(pay_dates)
            .bind::<Array<Numeric>, _>(instalments)
            .bind::<Nullable<Numeric>, _>(self.payroll.map(|(plan, _)| plan.limit.amount()))
            .bind::<Nullable<SqlUuid>, _>(self.payroll.map(|(_, employer)| employer))
            .bind::<Nullable<Integer>, _>(instalment_count)
            .bind::<Array<Nullable<Integer>>, _>(limit_quantities)
            .bind::<Array<Nullable<Text>>, _>(limit_periods)
            .get_result(conn)
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_cut_keeps_only_its_sections_and_every_text_is_whole() {
        let bare = placement_sql(false, false);
        assert!(!bare.contains("purchase_limit_usage") && !bare.contains("payroll_due"));
        assert!(bare.contains("INSERT INTO orders") && bare.contains("UPDATE products"));
        let limits = placement_sql(true, false);
        assert!(limits.contains("purchase_limit_usage") && !limits.contains("payroll_due"));
        let payroll = placement_sql(false, true);
        assert!(!payroll.contains("purchase_limit_usage") && payroll.contains("payroll_due"));
        let both = placement_sql(true, true);
        assert!(both.contains("purchase_limit_usage") && both.contains("payroll_deductions"));
        for text in [bare, limits, payroll, both] {
            assert!(!text.contains("--<") && !text.contains("{record_change}"));
            assert!(text
                .trim_end()
                .ends_with("WHERE (SELECT count(*) FROM stock) > 0"));
        }
    }
}
