//! Consolidation eliminations (§7): the figures of each seller/buyer pair read here, the
//! entries decided by `domain::consolidation`. Also the buyers' intercompany inventory at a
//! month's end, whose profit is eliminated that month and released the next.

use std::collections::BTreeMap;

use actix_web::{get, put, web, HttpRequest, HttpResponse};
use chrono::{DateTime, Months, NaiveDate, TimeDelta, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Date, Numeric, Uuid as SqlUuid};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use rust_decimal::Decimal;
use uuid::Uuid;

use super::dto::*;
use super::reports::{balances, bounds, currencies, currency, month_report, revenue, Rates};
use crate::body::Body;
use crate::csv::{csv, moment};
use crate::db::schema::intercompany_inventory as held;
use crate::db::statement::statement;
use crate::domain::calendar::BusinessDay;
use crate::domain::codes::CurrencyCode;
use crate::domain::consolidation::{self, Margin, PairFigures};
use crate::domain::period::Month;
use crate::domain::{fx, money};
use crate::error::{ApiError, FieldError};
use crate::identity::auth::{Authorized, Finance};
use crate::ids::{EmployeeId, GroupId};
use crate::state::AppState;
use crate::write;

/// The eliminations of `period` as they stand now (in the caller's transaction).
pub async fn compute(
    conn: &mut AsyncPgConnection,
    group: GroupId,
    period: Month,
    day: BusinessDay,
    closed_at: Option<DateTime<Utc>>,
) -> Result<EliminationsView, ApiError> {
    let today = day.today;
    let (first, next, as_of) = bounds(period, today)?;
    let until = next.min(as_of + TimeDelta::days(1));
    let (_, group_currency) = currencies(conn, group).await?;
    let mut rates = Rates::new(group);
    let mut pairs: BTreeMap<(Uuid, Uuid), PairFigures> = BTreeMap::new();
    fn pair(
        pairs: &mut BTreeMap<(Uuid, Uuid), PairFigures>,
        key: (Uuid, Uuid),
    ) -> &mut PairFigures {
        pairs.entry(key).or_insert(PairFigures {
            seller: key.0,
            buyer: key.1,
            revenue: Decimal::ZERO,
            receivable: Decimal::ZERO,
            payable: Decimal::ZERO,
            unrealised_profit: Decimal::ZERO,
            released_profit: Decimal::ZERO,
        })
    }
    for (key, amount) in revenue(conn, &mut rates, group_currency, first, next).await? {
        pair(&mut pairs, key).revenue = amount;
    }
    for balance in balances(conn, group, until).await? {
        let document = balance.document_currency;
        let rate = rates.get(conn, document, group_currency, as_of).await?;
        let figures = pair(
            &mut pairs,
            (balance.seller_company_id, balance.buyer_company_id),
        );
        figures.receivable = fx::convert(balance.receivable, rate, group_currency)?;
        figures.payable = fx::convert(balance.payable, rate, group_currency)?;
    }
    for (key, profit) in unrealised(conn, &mut rates, group_currency, first, today).await? {
        pair(&mut pairs, key).unrealised_profit = profit;
    }
    let previous = first
        .checked_sub_months(Months::new(1))
        .ok_or_else(|| ApiError::bad_field("period", "must be YYYY-MM"))?;
    for (key, profit) in unrealised(conn, &mut rates, group_currency, previous, today).await? {
        pair(&mut pairs, key).released_profit = profit;
    }
    let figures: Vec<PairFigures> = pairs.into_values().collect();
    let entries = consolidation::eliminations(&figures)?;
    let total = money::sum(entries.iter().map(|e| e.amount))?;
    Ok(EliminationsView {
        period: period.to_string(),
        currency: group_currency.to_string(),
        total_debits: money::format(total, group_currency),
        total_credits: money::format(total, group_currency),
        entries: entries
            .into_iter()
            .map(|e| EliminationView {
                seller_company_id: e.seller,
                buyer_company_id: e.buyer,
                debit_account: e.debit,
                credit_account: e.credit,
                amount: money::format(e.amount, group_currency),
                description: e.reason.describe().to_owned(),
            })
            .collect(),
        closed_at,
    })
}

#[derive(QueryableByName)]
struct Held {
    #[diesel(sql_type = SqlUuid)]
    seller_company_id: Uuid,
    #[diesel(sql_type = SqlUuid)]
    buyer_company_id: Uuid,
    #[diesel(sql_type = diesel::sql_types::Text)]
    currency: String,
    #[diesel(sql_type = Numeric)]
    amount: Decimal,
    #[diesel(sql_type = Numeric)]
    revenue: Decimal,
    #[diesel(sql_type = Numeric)]
    cost: Decimal,
}

/// The profit in each pair's holdings reported for the month beginning `first`, in the group
/// currency at the month's end rate: holdings × the pair's margin over the lines shipped in the
/// 12 months to the month's end.
async fn unrealised(
    conn: &mut AsyncPgConnection,
    rates: &mut Rates,
    group_currency: CurrencyCode,
    first: NaiveDate,
    today: NaiveDate,
) -> Result<Vec<((Uuid, Uuid), Decimal)>, ApiError> {
    let (Some(next), Some(window)) = (
        first.checked_add_months(Months::new(1)),
        first.checked_sub_months(Months::new(11)),
    ) else {
        return Ok(Vec::new());
    };
    let as_of = (next - TimeDelta::days(1)).min(today);
    let rows: Vec<Held> = statement(include_str!("unrealised.sql"))
        .bind::<SqlUuid, _>(rates.group())
        .bind::<Date, _>(first)
        .bind::<Date, _>(window)
        .bind::<Date, _>(next)
        .load(conn)
        .await?;
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let document = currency(&row.currency)?;
        let margin = Margin {
            revenue: row.revenue,
            cost: row.cost,
        };
        let profit = consolidation::unrealised_profit(row.amount, margin, document)?;
        let rate = rates.get(conn, document, group_currency, as_of).await?;
        out.push((
            (row.seller_company_id, row.buyer_company_id),
            fx::convert(profit, rate, group_currency)?,
        ));
    }
    Ok(out)
}

month_report! {
    /// Consolidation eliminations for the period in the group currency (finance): intercompany
    /// revenue (net of credit notes) against cost of sales; payables and receivables at the
    /// period's end with any difference to `intercompany_differences`; the unrealised profit in
    /// the buyers' intercompany inventory, and last month's released. Debits equal credits. A
    /// closed month answers the figures stored when it closed.
    eliminations: GET "/finance/eliminations" answers EliminationsView,
    stored as Eliminations, computed by compute, CSV by to_csv,
}

fn to_csv(view: &EliminationsView) -> HttpResponse {
    csv(
        &crate::csv_columns![
            seller_company_id, buyer_company_id, debit_account, credit_account, #amount, currency,
            description, closed_at,
        ],
        view.entries.iter().map(|e| {
            vec![
                e.seller_company_id.to_string(),
                e.buyer_company_id.to_string(),
                e.debit_account.as_str().to_owned(),
                e.credit_account.as_str().to_owned(),
                e.amount.clone(),
                view.currency.clone(),
                e.description.clone(),
                moment(view.closed_at),
            ]
        }),
    )
}

/// The longest intercompany-inventory list (as the document states).
const MAX_INVENTORY_ITEMS: usize = 1000;

/// The reported pairs: at most [`MAX_INVENTORY_ITEMS`], each a seller and another buyer, each
/// pair once (422 naming every item at fault).
fn check_pairs(report: &InventoryReport) -> Result<(), ApiError> {
    if report.items.len() > MAX_INVENTORY_ITEMS {
        return Err(ApiError::invalid_field(
            "items",
            format!("at most {MAX_INVENTORY_ITEMS} seller/buyer pairs"),
        ));
    }
    let mut errors = Vec::new();
    for (i, item) in report.items.iter().enumerate() {
        if item.buyer_company_id == item.seller_company_id {
            errors.push(FieldError::new(
                format!("items[{i}].buyer_company_id"),
                "must differ from seller_company_id",
            ));
        }
        let twice = report.items.iter().take(i).any(|other| {
            (other.seller_company_id, other.buyer_company_id)
                == (item.seller_company_id, item.buyer_company_id)
        });
        if twice {
            errors.push(FieldError::new(
                format!("items[{i}]"),
                "names a seller and buyer already listed",
            ));
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ApiError::invalid(errors))
    }
}

/// One reported pair as stored.
#[derive(Insertable)]
#[diesel(table_name = held)]
struct HeldRow {
    group_id: GroupId,
    period: NaiveDate,
    seller_company_id: Uuid,
    buyer_company_id: Uuid,
    amount: Decimal,
    currency: String,
    reported_by: EmployeeId,
}

/// The rows of `report` for `period`: each pair of the group, its amount in the seller's
/// currency (422 naming the item otherwise).
async fn held_rows(
    conn: &mut AsyncPgConnection,
    group: GroupId,
    (period, reporter): (NaiveDate, EmployeeId),
    report: &InventoryReport,
) -> Result<Vec<HeldRow>, ApiError> {
    let (companies, _) = currencies(conn, group).await?;
    let mut rows = Vec::with_capacity(report.items.len());
    for (i, item) in report.items.iter().enumerate() {
        let document = companies.get(&item.seller_company_id).copied();
        let known = companies.contains_key(&item.buyer_company_id);
        let (Some(document), true) = (document, known) else {
            return Err(ApiError::invalid(vec![FieldError::new(
                format!("items[{i}]"),
                "names a company that is not of your group",
            )]));
        };
        let amount = money::parse_non_negative_amount(&item.amount, document).map_err(|m| {
            ApiError::invalid(vec![FieldError::new(format!("items[{i}].amount"), m)])
        })?;
        rows.push(HeldRow {
            group_id: group,
            period,
            seller_company_id: item.seller_company_id,
            buyer_company_id: item.buyer_company_id,
            amount,
            currency: document.to_string(),
            reported_by: reporter,
        });
    }
    Ok(rows)
}

/// Report the buyers' holdings of goods bought inside the group at a month's end (finance):
/// the list replaces the month's. Amounts at transfer price in the pair's document currency
/// (the seller's). A closed month → 409 `period_closed`.
#[utoipa::path(
    tag = "finance",
    params(
        (
            "period" = String,
            Path,
            pattern = r"^[0-9]{4}-(0[1-9]|1[0-2])$",
            description = "`YYYY-MM`"
        )
    ),
    request_body = InventoryReport,
    security(("bearer" = ["finance"])),
    responses(
        (status = 200, body = InventoryReport),
        (status = 409, description = "period_closed"),
        (status = 422, description = "Invalid fields, or a company not of the group")
    )
)]
#[put("/finance/periods/{period}/intercompany-inventory")]
pub async fn report_inventory(
    user: Authorized<Finance>,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: Body<InventoryReport>,
) -> Result<web::Json<InventoryReport>, ApiError> {
    let first = crate::validation::period(&path)?.first();
    let report = body.into_inner()?;
    check_pairs(&report)?;
    let group = user.group_id;
    let reporter = user.id;
    let now = state.clock.now();
    let mut conn = state.pool.get().await?;
    let answer = write::by(&user.user, group)
        .run(&mut conn, &state.changes, async move |conn| {
            if first > crate::bookings::today(conn, group, now).await? {
                return Err(ApiError::invalid_field(
                    "period",
                    "must not be in the future",
                ));
            }
            let rows = held_rows(conn, group, (first, reporter), &report).await?;
            // Replacing the month's list: the delete (and each insert) passes the open-period
            // check of migration 000012, so a closed month keeps its list.
            diesel::delete(held::table.filter(held::group_id.eq(group)))
                .filter(held::period.eq(first))
                .execute(conn)
                .await?;
            diesel::insert_into(held::table)
                .values(&rows)
                .execute(conn)
                .await?;
            // An empty list still passes the check: the month must be open to be emptied.
            crate::bookings::open_on(conn, group, first).await?;
            let change = crate::audit::Change::new(
                "finance.intercompany_inventory_reported",
                "group",
                group.uuid(),
            )
            .after(&serde_json::json!({"period": path.as_str(), "items": report.items}));
            Ok((report, change))
        })
        .await?;
    Ok(web::Json(answer))
}
