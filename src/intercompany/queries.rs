//! Reading intercompany orders: one by id (locked for a transition or not), a page of them
//! under the caller's filters, their quantities for taking stock, and a company's currency.

use chrono::{DateTime, NaiveDate, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use rust_decimal::Decimal;
use uuid::Uuid;

use crate::db::schema::{
    companies, intercompany_order_lines as lines, intercompany_orders as orders,
};
use crate::domain::codes::CurrencyCode;
use crate::domain::intercompany::Status;
use crate::error::ApiError;
use crate::ids::{CompanyId, GroupId, IcOrderId};

/// The currency of company `id` of `group`.
pub async fn company_currency(
    conn: &mut AsyncPgConnection,
    group: GroupId,
    id: CompanyId,
) -> Result<Option<CurrencyCode>, ApiError> {
    Ok(companies::table
        .find(id)
        .filter(companies::group_id.eq(group))
        .select(companies::currency)
        .first(conn)
        .await
        .optional()?)
}

#[derive(Debug, Clone, Queryable, QueryableByName, Selectable)]
#[diesel(table_name = orders)]
pub struct OrderRow {
    pub id: IcOrderId,
    pub number: String,
    pub status: Status,
    pub buyer_company_id: CompanyId,
    pub seller_company_id: CompanyId,
    pub currency: CurrencyCode,
    pub total: Decimal,
    pub order_date: NaiveDate,
    pub promised_date: Option<NaiveDate>,
    pub ship_date: Option<NaiveDate>,
    pub settle_date: Option<NaiveDate>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// The order `id` of `group`, locked for a transition.
pub async fn lock(
    conn: &mut AsyncPgConnection,
    group: GroupId,
    id: IcOrderId,
) -> Result<Option<OrderRow>, ApiError> {
    Ok(orders::table
        .find(id)
        .filter(orders::group_id.eq(group))
        .select(OrderRow::as_select())
        .for_update()
        .first(conn)
        .await
        .optional()?)
}

pub async fn find(
    conn: &mut AsyncPgConnection,
    group: GroupId,
    id: IcOrderId,
) -> Result<Option<OrderRow>, ApiError> {
    Ok(orders::table
        .find(id)
        .filter(orders::group_id.eq(group))
        .select(OrderRow::as_select())
        .first(conn)
        .await
        .optional()?)
}

/// The quantities of an order's lines, for taking stock.
pub async fn quantities(
    conn: &mut AsyncPgConnection,
    id: IcOrderId,
) -> Result<Vec<(Uuid, i32)>, ApiError> {
    Ok(lines::table
        .filter(lines::order_id.eq(id))
        .select((lines::product_id, lines::quantity))
        .load(conn)
        .await?)
}

/// What a page of orders is filtered on.
pub struct ListFilter {
    /// Only orders this company buys or sells (a purchaser's view).
    pub party: Option<Uuid>,
    pub status: Option<Status>,
    pub buyer: Option<Uuid>,
    pub seller: Option<Uuid>,
    /// Created in `[from, to)`.
    pub created: Option<(DateTime<Utc>, DateTime<Utc>)>,
}

/// A page of `group`'s orders under `filter`, newest first, after the keyset `after`.
pub async fn list(
    conn: &mut AsyncPgConnection,
    group: GroupId,
    filter: &ListFilter,
    after: Option<(DateTime<Utc>, Uuid)>,
    fetch: i64,
) -> Result<Vec<OrderRow>, ApiError> {
    let mut sql = orders::table
        .filter(orders::group_id.eq(group))
        .select(OrderRow::as_select())
        .order((orders::created_at.desc(), orders::id.desc()))
        .limit(fetch)
        .into_boxed();
    if let Some(company) = filter.party {
        sql = sql.filter(
            orders::buyer_company_id
                .eq(company)
                .or(orders::seller_company_id.eq(company)),
        );
    }
    if let Some(status) = filter.status {
        sql = sql.filter(orders::status.eq(status.as_str()));
    }
    if let Some(buyer) = filter.buyer {
        sql = sql.filter(orders::buyer_company_id.eq(buyer));
    }
    if let Some(seller) = filter.seller {
        sql = sql.filter(orders::seller_company_id.eq(seller));
    }
    if let Some((from, to)) = filter.created {
        sql = sql
            .filter(orders::created_at.ge(from))
            .filter(orders::created_at.lt(to));
    }
    if let Some((at, id)) = after {
        sql = sql.filter(
            orders::created_at
                .lt(at)
                .or(orders::created_at.eq(at).and(orders::id.lt(id))),
        );
    }
    Ok(sql.load(conn).await?)
}
