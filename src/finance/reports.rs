//! Finance reports: what reconciliation and eliminations share (balances, revenue, rates,
//! the period's bounds), and internal sales. Totals are SQL aggregates over the group's entries
//! (indexed by group and pair); conversions use the one FX lookup, once per currency and day.

use std::collections::{BTreeMap, HashMap};

use actix_web::{get, web, HttpRequest, HttpResponse};
use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Date, Integer, Numeric, Text, Timestamptz, Uuid as SqlUuid};
use diesel_async::{AsyncConnection as _, AsyncPgConnection, RunQueryDsl};
use rust_decimal::Decimal;
use uuid::Uuid;

use super::dto::*;
use crate::db::schema::companies;
use crate::db::statement::statement;
use crate::domain::calendar::BusinessDay;
use crate::domain::codes::CurrencyCode;
use crate::domain::period::Month;
use crate::domain::{fx, money};
use crate::error::ApiError;
use crate::frozen::{self, Figures, Report};
use crate::identity::auth::{Authorized, Finance};
use crate::ids::GroupId;
use crate::state::AppState;

use crate::csv::{csv, moment};

/// A finance report of one month, as a close stores it and every request answers it.
pub trait MonthReport: serde::Serialize + serde::de::DeserializeOwned + Send {
    /// Its name in the store of closed months.
    const STORED_AS: Report;

    /// The report of `period` as it stands now, in the caller's transaction.
    fn compute<'a>(
        conn: &'a mut AsyncPgConnection,
        group: GroupId,
        period: Month,
        day: BusinessDay,
        closed_at: Option<DateTime<Utc>>,
    ) -> impl std::future::Future<Output = Result<Self, ApiError>> + Send + 'a;

    /// Its CSV answer.
    fn csv(&self) -> HttpResponse;
}

/// A month report's route and its [`MonthReport`] implementation, written once for every
/// report: `GET $path?period=YYYY-MM` (finance) answers [`answer`]`::<$view>`, computed by
/// `$compute(conn, group, period, day, closed_at)` and written as CSV by `$csv(&view)`. The
/// caller's module provides the names the route uses (`PeriodQuery`, `Authorized`, `Finance`,
/// `AppState`, …), as every finance module imports them.
macro_rules! month_report {
    (
        $(#[$doc:meta])*
        $handler:ident: GET $path:literal answers $view:ident,
        stored as $stored:ident, computed by $compute:path, CSV by $csv:path $(,)?
    ) => {
        $(#[$doc])*
        #[utoipa::path(
            tag = "finance",
            params(PeriodQuery),
            security(("bearer" = ["finance"])),
            responses(
                (status = 200, description = "The report; CSV with `Accept: text/csv`",
                    content(($view = "application/json"), (String = "text/csv"))),
                (status = 422, description = "A future period, or fx_rate_missing")
            )
        )]
        #[get($path)]
        pub async fn $handler(
            user: Authorized<Finance>,
            state: web::Data<AppState>,
            req: HttpRequest,
            query: crate::json::Query<PeriodQuery>,
        ) -> Result<HttpResponse, ApiError> {
            crate::finance::reports::answer::<$view>(&state, user.group_id, query.month()?, &req)
                .await
        }

        impl crate::finance::reports::MonthReport for $view {
            const STORED_AS: crate::frozen::Report = crate::frozen::Report::$stored;

            fn compute<'a>(
                conn: &'a mut AsyncPgConnection,
                group: GroupId,
                period: crate::domain::period::Month,
                day: BusinessDay,
                closed_at: Option<DateTime<Utc>>,
            ) -> impl std::future::Future<Output = Result<Self, ApiError>> + Send + 'a {
                $compute(conn, group, period, day, closed_at)
            }

            fn csv(&self) -> HttpResponse {
                $csv(self)
            }
        }
    };
}
pub(crate) use month_report;

/// Answers report `R` of `period` for `group`: in one read-only snapshot, the figures stored
/// when the month closed, else the report computed now; CSV with `Accept: text/csv`.
pub async fn answer<R: MonthReport>(
    state: &AppState,
    group: GroupId,
    period: Month,
    req: &HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let now = state.clock.now();
    // Read on a replica when one is usable (`db::replicas`): reports need no write of the
    // caller's to be visible, and a replica keeps them off the primary's CPU.
    let figures = state
        .reads
        .read(0, async |conn| {
            conn.transaction::<_, ApiError, _>(async |conn| {
                report_mode(conn).await?;
                let day = crate::bookings::day(conn, group, now).await?;
                let (first, _, _) = bounds(period, day.today)?;
                if let Some(body) = frozen::load(conn, group, first, R::STORED_AS).await? {
                    return Ok(Figures::Stored(body));
                }
                Ok(Figures::Live(
                    R::compute(conn, group, period, day, None).await?,
                ))
            })
            .await
        })
        .await?;
    figures.answer(req, R::csv)
}

/// Sets up a report's transaction: one read-only snapshot, so every figure is of the same
/// instant, and plans made for the actual values (a generic plan over a million entries walks
/// an index where a scan of the group's rows wins).
pub async fn report_mode(conn: &mut AsyncPgConnection) -> Result<(), ApiError> {
    for setting in [
        "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY",
        "SET LOCAL plan_cache_mode = force_custom_plan",
    ] {
        diesel::sql_query(setting).execute(conn).await?;
    }
    Ok(())
}

/// Rates fetched for one report, by (from, to, day).
pub struct Rates {
    group: GroupId,
    seen: HashMap<(CurrencyCode, CurrencyCode, NaiveDate), Decimal>,
}

impl Rates {
    pub fn new(group: GroupId) -> Self {
        Self {
            group,
            seen: HashMap::new(),
        }
    }

    /// The group whose rates these are.
    pub fn group(&self) -> GroupId {
        self.group
    }

    pub async fn get(
        &mut self,
        conn: &mut AsyncPgConnection,
        from: CurrencyCode,
        to: CurrencyCode,
        day: NaiveDate,
    ) -> Result<Decimal, ApiError> {
        if let Some(rate) = self.seen.get(&(from, to, day)) {
            return Ok(*rate);
        }
        let rate = crate::fx::queries::rate(conn, self.group, from, to, day).await?;
        self.seen.insert((from, to, day), rate);
        Ok(rate)
    }
}

pub fn currency(code: &str) -> Result<CurrencyCode, ApiError> {
    CurrencyCode::parse(code).ok_or_else(|| ApiError::internal(format!("unknown currency {code}")))
}

/// The period's first day, the day after its end, and the day its balances are taken
/// (its last day, or today while it runs). A future period → 422.
pub fn bounds(
    month: Month,
    today: NaiveDate,
) -> Result<(NaiveDate, NaiveDate, NaiveDate), ApiError> {
    let (first, next) = (month.first(), month.next());
    if first > today {
        return Err(ApiError::invalid_field(
            "period",
            "must not be in the future",
        ));
    }
    let last = next - TimeDelta::days(1);
    Ok((first, next, last.min(today)))
}

/// The currency of each company of `group`, and the group's own.
pub(super) async fn currencies(
    conn: &mut AsyncPgConnection,
    group: GroupId,
) -> Result<(HashMap<Uuid, CurrencyCode>, CurrencyCode), ApiError> {
    let rows: Vec<(Uuid, CurrencyCode)> = companies::table
        .filter(companies::group_id.eq(group))
        .select((companies::id, companies::currency))
        .load(conn)
        .await?;
    let map: HashMap<Uuid, CurrencyCode> = rows.into_iter().collect();
    let own = *map
        .get(&group.uuid())
        .ok_or_else(|| ApiError::internal("the group's root is missing"))?;
    Ok((map, own))
}

#[derive(QueryableByName)]
pub(super) struct Balance {
    #[diesel(sql_type = SqlUuid)]
    pub(super) seller_company_id: Uuid,
    #[diesel(sql_type = SqlUuid)]
    pub(super) buyer_company_id: Uuid,
    #[diesel(sql_type = Text)]
    pub(super) document_currency: CurrencyCode,
    #[diesel(sql_type = Numeric)]
    pub(super) receivable: Decimal,
    #[diesel(sql_type = Numeric)]
    pub(super) payable: Decimal,
    #[diesel(sql_type = Numeric)]
    pub(super) payable_booked: Decimal,
}

/// Each pair's open balances from everything dated before `until`.
pub(super) async fn balances(
    conn: &mut AsyncPgConnection,
    group: GroupId,
    until: NaiveDate,
) -> Result<Vec<Balance>, ApiError> {
    Ok(statement(
        "SELECT CASE WHEN side = 'seller' THEN company_id ELSE counterparty_company_id END \
                    AS seller_company_id, \
                CASE WHEN side = 'seller' THEN counterparty_company_id ELSE company_id END \
                    AS buyer_company_id, \
                document_currency, \
                coalesce(sum(document_amount) FILTER (WHERE side = 'seller'), 0) AS receivable, \
                coalesce(sum(document_amount) FILTER (WHERE side = 'buyer'), 0) AS payable, \
                coalesce(sum(amount) FILTER (WHERE side = 'buyer'), 0) AS payable_booked \
         FROM ledger_entries \
         WHERE group_id = $1 AND date < $2 \
         GROUP BY 1, 2, 3 \
         ORDER BY 1, 2, 3",
    )
    .bind::<SqlUuid, _>(group)
    .bind::<Date, _>(until)
    .load(conn)
    .await?)
}

#[derive(QueryableByName)]
struct Revenue {
    #[diesel(sql_type = SqlUuid)]
    seller_company_id: Uuid,
    #[diesel(sql_type = SqlUuid)]
    buyer_company_id: Uuid,
    #[diesel(sql_type = Text)]
    document_currency: CurrencyCode,
    #[diesel(sql_type = Date)]
    date: NaiveDate,
    #[diesel(sql_type = Numeric)]
    amount: Decimal,
}

/// Intercompany revenue of [first, next) per pair, in the group currency at each day's rate:
/// the lines shipped (receivables) and true-ups booked in it, less the seller's credit notes
/// (its negative receivable adjustments).
pub(super) async fn revenue(
    conn: &mut AsyncPgConnection,
    rates: &mut Rates,
    group_currency: CurrencyCode,
    first: NaiveDate,
    next: NaiveDate,
) -> Result<Vec<((Uuid, Uuid), Decimal)>, ApiError> {
    let rows: Vec<Revenue> = statement(
        "SELECT company_id AS seller_company_id, counterparty_company_id AS buyer_company_id, \
                document_currency, date, sum(document_amount) AS amount \
         FROM ledger_entries \
         WHERE group_id = $1 AND side = 'seller' AND date >= $2 AND date < $3 \
             AND (kind IN ('receivable', 'true_up') \
                  OR (kind = 'adjustment' AND document_amount < 0)) \
         GROUP BY 1, 2, 3, 4 \
         ORDER BY 1, 2, 3, 4",
    )
    .bind::<SqlUuid, _>(rates.group)
    .bind::<Date, _>(first)
    .bind::<Date, _>(next)
    .load(conn)
    .await?;
    let mut totals: Vec<((Uuid, Uuid), Decimal)> = Vec::new();
    for row in rows {
        let rate = rates
            .get(conn, row.document_currency, group_currency, row.date)
            .await?;
        let amount = fx::convert(row.amount, rate, group_currency)?;
        let pair = (row.seller_company_id, row.buyer_company_id);
        match totals.iter_mut().find(|(p, _)| *p == pair) {
            Some((_, total)) => *total += amount,
            None => totals.push((pair, amount)),
        }
    }
    Ok(totals)
}

#[derive(QueryableByName)]
struct EmployeeSales {
    #[diesel(sql_type = SqlUuid)]
    seller_company_id: Uuid,
    #[diesel(sql_type = Numeric)]
    amount: Decimal,
}

/// Internal sales of `period` as they stand now (in the caller's transaction): employee orders
/// fulfilled in it (at the rate each order recorded, rounded once per order) and intercompany
/// revenue of it, per seller company in the group currency.
pub async fn internal_sales_of(
    conn: &mut AsyncPgConnection,
    group: GroupId,
    period: Month,
    day: BusinessDay,
    closed_at: Option<DateTime<Utc>>,
) -> Result<InternalSalesView, ApiError> {
    let (first, next, _) = bounds(period, day.today)?;
    let (_, group_currency) = currencies(conn, group).await?;
    // The month begins and ends at the group's local midnight.
    let (from, to) = (day.zone.start(first), day.zone.start(next));
    // Sales are recognised when earned: an employee order at its fulfilment. A placed order is
    // no sale yet, and a cancelled one never was.
    let employee: Vec<EmployeeSales> = statement(
        "SELECT seller_company_id, sum(round(total * fx_rate, $4)) AS amount \
         FROM orders \
         WHERE group_id = $1 AND status = 'fulfilled' \
           AND fulfilled_at >= $2 AND fulfilled_at < $3 \
         GROUP BY 1",
    )
    .bind::<SqlUuid, _>(group)
    .bind::<Timestamptz, _>(from)
    .bind::<Timestamptz, _>(to)
    .bind::<Integer, _>(i32::try_from(group_currency.exponent()).unwrap_or(2))
    .load(conn)
    .await?;
    let mut rates = Rates::new(group);
    let intercompany = revenue(conn, &mut rates, group_currency, first, next).await?;
    let mut by_company: BTreeMap<Uuid, (Decimal, Decimal)> = BTreeMap::new();
    for row in employee {
        let sales = by_company.entry(row.seller_company_id).or_default();
        sales.0 = money::add(sales.0, row.amount)?;
    }
    for ((seller, _), amount) in intercompany {
        let sales = by_company.entry(seller).or_default();
        sales.1 = money::add(sales.1, amount)?;
    }
    let mut items = Vec::with_capacity(by_company.len());
    for (company, (employee, trade)) in by_company {
        items.push(InternalSalesItem {
            company_id: company,
            employee_sales: money::format(employee, group_currency),
            intercompany_sales: money::format(trade, group_currency),
            total: money::format(money::add(employee, trade)?, group_currency),
        });
    }
    Ok(InternalSalesView {
        period: period.to_string(),
        currency: group_currency.to_string(),
        items,
        closed_at,
    })
}

month_report! {
    /// Employee and intercompany sales per seller company in the group currency (finance),
    /// recognised when earned: employee orders at fulfilment, intercompany orders at shipment. A
    /// closed month answers the figures stored when it closed.
    internal_sales: GET "/finance/internal-sales" answers InternalSalesView,
    stored as InternalSales, computed by internal_sales_of, CSV by internal_sales_csv,
}

fn internal_sales_csv(view: &InternalSalesView) -> HttpResponse {
    csv(
        &crate::csv_columns![
            company_id, #employee_sales, #intercompany_sales, #total, currency, closed_at,
        ],
        view.items.iter().map(|item| {
            vec![
                item.company_id.to_string(),
                item.employee_sales.clone(),
                item.intercompany_sales.clone(),
                item.total.clone(),
                view.currency.clone(),
                moment(view.closed_at),
            ]
        }),
    )
}
