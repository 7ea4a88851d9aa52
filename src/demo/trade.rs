//! The demo group's intercompany trade: a year of daily EUR/USD rates, transfer-pricing
//! policies both ways between ABC and XYZ, and intercompany orders in every state, booked with
//! the same functions the API uses (so the amounts are exactly what the service would book).

use chrono::{Datelike, NaiveDate, TimeDelta};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use rust_decimal::Decimal;
use uuid::Uuid;

use crate::db::schema::{
    companies, employees, fx_rates, intercompany_orders, products, transfer_pricing_policies,
};
use crate::domain::intercompany::Status;
use crate::domain::transfer_pricing::Method;
use crate::error::ApiError;
use crate::ids::GroupId;
use crate::intercompany::validation::Requested;
use crate::intercompany::{ledger, placement, pricing};

/// What the trade seeding added.
#[derive(Debug, Default)]
pub struct SeededTrade {
    pub fx_rates: usize,
    pub policies: usize,
    pub intercompany_orders: usize,
}

async fn company(
    conn: &mut AsyncPgConnection,
    group: GroupId,
    code: &str,
) -> Result<Uuid, ApiError> {
    Ok(companies::table
        .filter(companies::group_id.eq(group))
        .filter(companies::code.eq(code))
        .select(companies::id)
        .first(conn)
        .await?)
}

/// EUR→USD for every day of the last year, around 1.08 (deterministic, so runs compare).
async fn rates(
    conn: &mut AsyncPgConnection,
    group: GroupId,
    today: NaiveDate,
) -> Result<usize, ApiError> {
    // Nothing is dated into closed books (a seed run again after finance closed months): the
    // rates start after the last closed month.
    let closed: Option<NaiveDate> = crate::db::schema::closed_periods::table
        .filter(crate::db::schema::closed_periods::group_id.eq(group))
        .select(diesel::dsl::max(crate::db::schema::closed_periods::period))
        .first(conn)
        .await?;
    let open_from = closed.and_then(|month| month.checked_add_months(chrono::Months::new(1)));
    let rows: Vec<_> = (0..=365_i64)
        .filter_map(|back| {
            let date = today.checked_sub_signed(TimeDelta::days(back))?;
            if open_from.is_some_and(|open| date < open) {
                return None;
            }
            let wobble = (back * 37 % 61) - 30; // −30 … 30 ten-thousandths
            Some((
                fx_rates::group_id.eq(group),
                fx_rates::base.eq("EUR"),
                fx_rates::quote.eq("USD"),
                fx_rates::rate.eq(Decimal::new(10_800 + wobble, 4)),
                fx_rates::date.eq(date),
            ))
        })
        .collect();
    Ok(diesel::insert_into(fx_rates::table)
        .values(&rows)
        .on_conflict((
            fx_rates::group_id,
            fx_rates::base,
            fx_rates::quote,
            fx_rates::date,
        ))
        .do_nothing()
        .execute(conn)
        .await?)
}

/// ABC sells to its sisters at cost plus 18 % — above its arm's-length range of 5–15 % (target
/// 10 %), so its lines are flagged and the year-end true-up has something to show; XYZ sells
/// to ABC at resale minus 25 % (range 20–40 %, target 30 %). Valid from the start of last year.
async fn policies(
    conn: &mut AsyncPgConnection,
    group: GroupId,
    abc: Uuid,
    xyz: Uuid,
    since: NaiveDate,
) -> Result<usize, ApiError> {
    let existing: i64 = transfer_pricing_policies::table
        .filter(transfer_pricing_policies::group_id.eq(group))
        .count()
        .get_result(conn)
        .await?;
    if existing > 0 {
        return Ok(0);
    }
    let percent = |p: i64| Some(Decimal::from(p));
    let rows = vec![
        (
            transfer_pricing_policies::group_id.eq(group),
            transfer_pricing_policies::seller_company_id.eq(abc),
            transfer_pricing_policies::buyer_company_id.eq(None::<Uuid>),
            transfer_pricing_policies::method.eq(Method::CostPlus.as_str()),
            transfer_pricing_policies::percent.eq(Decimal::from(18)),
            transfer_pricing_policies::min_markup_percent.eq(percent(5)),
            transfer_pricing_policies::max_markup_percent.eq(percent(15)),
            transfer_pricing_policies::target_markup_percent.eq(percent(10)),
            transfer_pricing_policies::valid_from.eq(since),
        ),
        (
            transfer_pricing_policies::group_id.eq(group),
            transfer_pricing_policies::seller_company_id.eq(xyz),
            transfer_pricing_policies::buyer_company_id.eq(Some(abc)),
            transfer_pricing_policies::method.eq(Method::ResaleMinus.as_str()),
            transfer_pricing_policies::percent.eq(Decimal::from(25)),
            transfer_pricing_policies::min_markup_percent.eq(percent(20)),
            transfer_pricing_policies::max_markup_percent.eq(percent(40)),
            transfer_pricing_policies::target_markup_percent.eq(percent(30)),
            transfer_pricing_policies::valid_from.eq(since),
        ),
    ];
    Ok(diesel::insert_into(transfer_pricing_policies::table)
        .values(&rows)
        .execute(conn)
        .await?)
}

/// The first `n` active intercompany products of `seller` (by sku) with their stock.
async fn goods(conn: &mut AsyncPgConnection, seller: Uuid, n: i64) -> Result<Vec<Uuid>, ApiError> {
    Ok(products::table
        .filter(products::seller_company_id.eq(seller))
        .filter(products::active)
        .filter(products::intercompany_eligible)
        .filter(products::stock_on_hand.ge(10))
        .order(products::sku)
        .limit(n)
        .select(products::id)
        .load(conn)
        .await?)
}

/// Places one order as `buyer`'s purchaser on `day` and takes it to `status`, shipping and
/// settling on the given days.
#[allow(clippy::too_many_arguments)]
async fn order(
    conn: &mut AsyncPgConnection,
    group: GroupId,
    purchaser: Uuid,
    (buyer, seller): (Uuid, Uuid),
    lines: Vec<(Uuid, i32)>,
    day: NaiveDate,
    status: Status,
    (shipped, settled): (NaiveDate, NaiveDate),
) -> Result<(), ApiError> {
    let request = Requested {
        buyer: buyer.into(),
        seller: seller.into(),
        lines,
    };
    let priced = pricing::price(conn, group, &request, day).await?;
    let at = |d: NaiveDate| d.and_hms_opt(10, 0, 0).map(|t| t.and_utc());
    let placed = day
        .and_hms_opt(9, 0, 0)
        .map(|t| t.and_utc())
        .ok_or_else(|| ApiError::internal("no such time"))?;
    let row = placement::insert(conn, group, purchaser.into(), &priced, placed).await?;
    let target = diesel::update(intercompany_orders::table.find(row.id));
    let accepted = matches!(status, Status::Accepted | Status::Shipped | Status::Settled);
    if accepted {
        crate::inventory::take(conn, group, &request.lines).await?;
    }
    if matches!(status, Status::Shipped | Status::Settled) {
        ledger::book_shipment(conn, group, &row, shipped).await?;
    }
    if status == Status::Settled {
        ledger::book_settlement(conn, group, &row, settled).await?;
    }
    target
        .set((
            intercompany_orders::status.eq(status.as_str()),
            intercompany_orders::created_at.eq(at(day).unwrap_or_else(crate::clock::wall_time)),
            intercompany_orders::accepted_at.eq(if accepted { at(day) } else { None }),
            intercompany_orders::promised_date.eq(accepted.then_some(shipped)),
            intercompany_orders::ship_date
                .eq(matches!(status, Status::Shipped | Status::Settled).then_some(shipped)),
            intercompany_orders::shipped_at.eq(
                if matches!(status, Status::Shipped | Status::Settled) {
                    at(shipped)
                } else {
                    None
                },
            ),
            intercompany_orders::settle_date.eq((status == Status::Settled).then_some(settled)),
            intercompany_orders::settled_at.eq(if status == Status::Settled {
                at(settled)
            } else {
                None
            }),
        ))
        .execute(conn)
        .await?;
    Ok(())
}

/// Seeds the demo group's trade; skipped parts already there.
pub async fn seed(
    conn: &mut AsyncPgConnection,
    group: GroupId,
    today: NaiveDate,
) -> Result<SeededTrade, ApiError> {
    let mut seeded = SeededTrade::default();
    let (abc, xyz) = (
        company(conn, group, "ABC").await?,
        company(conn, group, "XYZ").await?,
    );
    let since = NaiveDate::from_ymd_opt(today.year() - 1, 1, 1).unwrap_or(today);
    seeded.fx_rates = rates(conn, group, today).await?;
    seeded.policies = policies(conn, group, abc, xyz, since).await?;
    let existing: i64 = intercompany_orders::table
        .filter(intercompany_orders::group_id.eq(group))
        .count()
        .get_result(conn)
        .await?;
    if existing > 0 {
        return Ok(seeded);
    }
    let purchaser = |email: &'static str| {
        employees::table
            .filter(employees::group_id.eq(group))
            .filter(employees::email.eq(email))
            .select(employees::id)
    };
    let petra: Uuid = purchaser("petra.purchaser@xyz.example").first(conn).await?;
    let paul: Uuid = purchaser("paul.purchaser@abc.example").first(conn).await?;
    let abc_goods = goods(conn, abc, 6).await?;
    let xyz_goods = goods(conn, xyz, 2).await?;
    let days = |n: i64| {
        today
            .checked_sub_signed(TimeDelta::days(n))
            .unwrap_or(today)
    };
    // ABC → XYZ in every state, then XYZ → ABC shipped.
    let plan = [
        (Status::Settled, 60, 45, 20),
        (Status::Settled, 40, 30, 10),
        (Status::Shipped, 20, 15, 0),
        (Status::Accepted, 5, 0, 0),
        (Status::Requested, 1, 0, 0),
        (Status::Rejected, 12, 0, 0),
        (Status::Cancelled, 9, 0, 0),
    ];
    for (index, (status, placed, shipped, settled)) in plan.into_iter().enumerate() {
        let lines = abc_goods
            .iter()
            .skip(index % 3)
            .take(2)
            .map(|id| (*id, i32::try_from(2 + index).unwrap_or(2)))
            .collect();
        order(
            conn,
            group,
            petra,
            (xyz, abc),
            lines,
            days(placed),
            status,
            (days(shipped), days(settled)),
        )
        .await?;
        seeded.intercompany_orders += 1;
    }
    let lines = xyz_goods.iter().map(|id| (*id, 3)).collect();
    order(
        conn,
        group,
        paul,
        (abc, xyz),
        lines,
        days(25),
        Status::Shipped,
        (days(20), days(0)),
    )
    .await?;
    seeded.intercompany_orders += 1;
    Ok(seeded)
}
