//! Multilateral netting (finance): every open two-sided document of the group (shipped,
//! unsettled intercompany orders, booked true-ups, countered adjustments) settled at once
//! through the fewest transfers between companies. The proposal and the run use
//! the same computation; the run settles each document as `settle` would, in one transaction.

use actix_web::http::StatusCode;
use actix_web::{get, post, web, HttpResponse};
use chrono::{DateTime, NaiveDate, Utc};
use diesel::prelude::*;
use diesel::sql_types::Text;
use diesel_async::{AsyncConnection as _, AsyncPgConnection, RunQueryDsl};
use rust_decimal::Decimal;
use uuid::Uuid;

use super::dto::*;
use super::open_items::{self, OpenItem};
use super::reports::{currency, Rates};
use crate::audit::Change;
use crate::db::schema::{companies, intercompany_orders as orders, netting_runs};
use crate::db::statement::statement;
use crate::domain::intercompany::Status;
use crate::domain::{fx, money, netting};
use crate::error::ApiError;
use crate::idempotency::Keyed;
use crate::identity::auth::{Authorized, CurrentUser, Finance};
use crate::ids::{GroupId, IcOrderId};
use crate::intercompany::ledger;
use crate::intercompany::queries::OrderRow;
use crate::pagination::Page;
use crate::state::AppState;
use crate::write;

/// What netting `rows` and `items` on `date` means: positions, transfers, in the group
/// currency.
async fn propose(
    conn: &mut AsyncPgConnection,
    group: GroupId,
    (rows, items): (&[OrderRow], &[OpenItem]),
    date: NaiveDate,
) -> Result<NettingView, ApiError> {
    let code: String = companies::table
        .find(group)
        .select(companies::currency)
        .first(conn)
        .await?;
    let group_currency = currency(&code)?;
    let mut rates = Rates::new(group);
    let mut positions: Vec<(Uuid, Decimal)> = Vec::new();
    // The netting rule (domain) keeps plain ids.
    let mut add =
        |company: Uuid, amount: Decimal| match positions.iter_mut().find(|(c, _)| *c == company) {
            Some((_, total)) => *total += amount,
            None => positions.push((company, amount)),
        };
    for row in rows {
        let rate = rates.get(conn, row.currency, group_currency, date).await?;
        let amount = fx::convert(row.total, rate, group_currency)?;
        add(row.seller_company_id.uuid(), amount);
        add(row.buyer_company_id.uuid(), -amount);
    }
    for item in items {
        let rate = rates
            .get(conn, item.document_currency, group_currency, date)
            .await?;
        let amount = fx::convert(item.document_amount, rate, group_currency)?;
        add(item.seller, amount);
        add(item.buyer, -amount);
    }
    positions.sort_by_key(|(company, _)| *company);
    let plan = netting::plan(&positions);
    Ok(NettingView {
        id: None,
        date,
        currency: group_currency.to_string(),
        positions: positions
            .iter()
            .map(|(company, amount)| PositionView {
                company_id: *company,
                amount: money::format(*amount, group_currency),
            })
            .collect(),
        exact: plan.exact,
        transfers: plan
            .transfers
            .iter()
            .map(|t| TransferView {
                from_company_id: t.from,
                to_company_id: t.to,
                amount: money::format(t.amount, group_currency),
                currency: group_currency.to_string(),
            })
            .collect(),
        orders: rows.iter().map(|r| r.id.uuid()).collect(),
        settled_postings: postings(items),
        created_at: None,
    })
}

/// The ledger postings that settling `items` clears, each once, in order.
fn postings(items: &[OpenItem]) -> Vec<Uuid> {
    let mut out: Vec<Uuid> = Vec::with_capacity(items.len().saturating_mul(2));
    for item in items {
        for posting in [item.seller_posting, item.buyer_posting] {
            if !out.contains(&posting) {
                out.push(posting);
            }
        }
    }
    out
}

/// The documents netting on `date` covers: shipped on or before it, not settled.
macro_rules! open_documents {
    ($group:expr, $date:expr) => {
        orders::table
            .filter(orders::group_id.eq($group))
            .filter(orders::status.eq(Status::Shipped.as_str()))
            .filter(orders::ship_date.le($date))
            .order(orders::id)
            .select(OrderRow::as_select())
    };
}

fn settlement_day(date: Option<NaiveDate>, today: NaiveDate) -> Result<NaiveDate, ApiError> {
    let date = date.unwrap_or(today);
    if date > today {
        return Err(ApiError::invalid_field("date", "must not be in the future"));
    }
    Ok(date)
}

/// Propose a netting of every open two-sided document (finance): shipped, unsettled
/// intercompany orders, booked true-ups and countered adjustments. Each company's net position
/// in the group currency at the date's rates, and the fewest transfers that clear them: the
/// exact minimum for up to 12 companies with a position (`exact: true`), else at most n − 1.
#[utoipa::path(
    tag = "finance", params(NettingQuery), security(("bearer" = ["finance"])),
    responses(
        (status = 200, body = NettingView),
        (status = 422, description = "A future date, or fx_rate_missing")
    )
)]
#[get("/finance/netting")]
pub async fn proposal(
    user: Authorized<Finance>,
    state: web::Data<AppState>,
    query: crate::json::Query<NettingQuery>,
) -> Result<web::Json<NettingView>, ApiError> {
    let mut conn = state.pool.get().await?;
    let today = crate::bookings::today(&mut conn, user.group_id, state.clock.now()).await?;
    let date = settlement_day(query.date, today)?;
    let rows: Vec<OrderRow> = open_documents!(user.group_id, date).load(&mut conn).await?;
    let items = open_items::open_items(&mut conn, user.group_id, date).await?;
    Ok(web::Json(
        propose(&mut conn, user.group_id, (&rows, &items), date).await?,
    ))
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = netting_runs)]
struct RunRow {
    id: Uuid,
    date: NaiveDate,
    currency: String,
    transfers: serde_json::Value,
    order_ids: Vec<Option<Uuid>>,
    exact: bool,
    settled_postings: Vec<Option<Uuid>>,
    created_at: DateTime<Utc>,
}

impl RunRow {
    fn view(self) -> NettingView {
        let transfers: Vec<TransferView> =
            serde_json::from_value(self.transfers).unwrap_or_default();
        NettingView {
            id: Some(self.id),
            date: self.date,
            currency: self.currency,
            positions: Vec::new(),
            transfers,
            exact: self.exact,
            orders: self.order_ids.into_iter().flatten().collect(),
            settled_postings: self.settled_postings.into_iter().flatten().collect(),
            created_at: Some(self.created_at),
        }
    }
}

/// Net and settle (finance): every document of the proposal is settled as `settle` would
/// (both settlements and the buyer's realised FX difference at the date's rate), and the run
/// is recorded with its transfers — all in one transaction. Posting again books nothing twice:
/// settled documents are no longer open (then 200 with no run).
#[utoipa::path(
    tag = "finance", request_body = NettingRequest, params(crate::idempotency::OptionalKeyParam),
    security(("bearer" = ["finance"])),
    responses(
        (status = 201, body = NettingView),
        (status = 200, body = NettingView, description = "Nothing was open: no run"),
        (status = 409, description = "period_closed, or request_in_progress"),
        (status = 422, description = "A date out of range, fx_rate_missing, idempotency_key_reused")
    )
)]
#[post("/finance/netting")]
pub async fn run(
    user: Authorized<Finance>,
    state: web::Data<AppState>,
    request: Keyed<NettingRequest>,
) -> Result<HttpResponse, ApiError> {
    let (body, once) = request.parse("POST /finance/netting")?;
    // The date is checked against the group's today inside the write (bookings::check).
    let date = body.date;
    let now = state.clock.now();
    let user = &user.user;
    let group = user.group_id;
    let mut conn = state.pool.get().await?;
    once.run(&mut conn, user.id, async move |conn| {
        let view = conn
            .transaction::<_, ApiError, _>(async |conn| {
                // One run at a time per group; the documents themselves are locked below as well.
                statement("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
                    .bind::<Text, _>(format!("netting:{group}"))
                    .execute(conn)
                    .await?;
                let today = crate::bookings::today(conn, group, now).await?;
                crate::bookings::check(conn, group, "date", date, today).await?;
                let rows: Vec<OrderRow> =
                    open_documents!(group, date).for_update().load(conn).await?;
                let items = open_items::open_items(conn, group, date).await?;
                let mut view = propose(conn, group, (&rows, &items), date).await?;
                if rows.is_empty() && items.is_empty() {
                    return Ok(view);
                }
                settle_documents(conn, user, &rows, (date, now)).await?;
                for item in &items {
                    open_items::settle(conn, group, item, date).await?;
                }
                record_run(conn, user, &rows, date, &mut view).await?;
                Ok(view)
            })
            .await?;
        let status = if view.id.is_some() {
            StatusCode::CREATED
        } else {
            StatusCode::OK
        };
        Ok((status, crate::json::to_value(&view)?))
    })
    .await
}

/// Settles each of `rows` on `date` as `settle` does, leaving the same audit trail.
async fn settle_documents(
    conn: &mut AsyncPgConnection,
    user: &CurrentUser,
    rows: &[OrderRow],
    (date, now): (NaiveDate, DateTime<Utc>),
) -> Result<(), ApiError> {
    let group = user.group_id;
    for row in rows {
        ledger::book_settlement(conn, group, row, date).await?;
        diesel::update(orders::table.find(row.id))
            .set((
                orders::status.eq(Status::Settled.as_str()),
                orders::settle_date.eq(Some(date)),
                orders::settled_at.eq(Some(now)),
                orders::updated_at.eq(now),
            ))
            .execute(conn)
            .await?;
        // Each document settled by the run leaves the same trail as `settle` does.
        write::by(user, group)
            .record(
                conn,
                Change::new(
                    "intercompany_order.settled",
                    "intercompany_order",
                    row.id.uuid(),
                )
                .before(&serde_json::json!({"status": Status::Shipped}))
                .after(&serde_json::json!({
                    "status": Status::Settled,
                    "settle_date": date,
                    "by": "netting",
                })),
            )
            .await?;
    }
    Ok(())
}

/// Records the run that settled `rows` with its transfers, audited; `view` gains its id.
async fn record_run(
    conn: &mut AsyncPgConnection,
    user: &CurrentUser,
    rows: &[OrderRow],
    date: NaiveDate,
    view: &mut NettingView,
) -> Result<(), ApiError> {
    let group = user.group_id;
    let transfers =
        serde_json::to_value(&view.transfers).map_err(|e| ApiError::Internal(e.into()))?;
    let ids: Vec<Option<IcOrderId>> = rows.iter().map(|r| Some(r.id)).collect();
    let settled: Vec<Option<Uuid>> = view.settled_postings.iter().copied().map(Some).collect();
    let stored: RunRow = diesel::insert_into(netting_runs::table)
        .values((
            netting_runs::group_id.eq(group),
            netting_runs::date.eq(date),
            netting_runs::currency.eq(&view.currency),
            netting_runs::transfers.eq(transfers),
            netting_runs::order_ids.eq(ids),
            netting_runs::exact.eq(view.exact),
            netting_runs::settled_postings.eq(settled),
            netting_runs::created_by.eq(user.id),
        ))
        .returning(RunRow::as_returning())
        .get_result(conn)
        .await?;
    view.id = Some(stored.id);
    view.created_at = Some(stored.created_at);
    write::by(user, group)
        .record(
            conn,
            Change::new("netting.run", "netting_run", stored.id).after(&*view),
        )
        .await?;
    Ok(())
}

/// The group's netting runs, newest first (finance).
#[utoipa::path(
    tag = "finance", params(RunsQuery), security(("bearer" = ["finance"])),
    responses((status = 200, body = Page<NettingView>))
)]
#[get("/finance/netting-runs")]
pub async fn list_runs(
    user: Authorized<Finance>,
    state: web::Data<AppState>,
    query: crate::json::Query<RunsQuery>,
) -> Result<web::Json<Page<NettingView>>, ApiError> {
    let page = query.page::<(DateTime<Utc>, Uuid)>()?;
    let mut sql = netting_runs::table
        .filter(netting_runs::group_id.eq(user.group_id))
        .select(RunRow::as_select())
        .order((netting_runs::created_at.desc(), netting_runs::id.desc()))
        .limit(page.fetch())
        .into_boxed();
    if let Some((at, id)) = page.after {
        sql = sql.filter(
            netting_runs::created_at
                .lt(at)
                .or(netting_runs::created_at.eq(at).and(netting_runs::id.lt(id))),
        );
    }
    let mut conn = state.pool.get().await?;
    let views: Vec<NettingView> = sql
        .load::<RunRow>(&mut conn)
        .await?
        .into_iter()
        .map(RunRow::view)
        .collect();
    Ok(web::Json(page.of(views, |v: &NettingView| {
        (v.created_at.unwrap_or_default(), v.id.unwrap_or_default())
    })))
}
