//! Pricing an intercompany order: the seller's transfer-pricing policies in force on the order
//! date, applied to each line by the pure rules of `domain::transfer_pricing`.

use std::collections::HashMap;

use chrono::NaiveDate;
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use rust_decimal::Decimal;
use uuid::Uuid;

use super::policies::PolicyRow;
use super::queries::company_currency;
use super::validation::Requested;
use crate::db::schema::{products, transfer_pricing_policies as policies};
use crate::domain::codes::CurrencyCode;
use crate::domain::transfer_pricing::{self, PricedLine};
use crate::error::ApiError;
use crate::ids::{CompanyId, GroupId};

/// The request priced: what an order (or a quote) is made of.
pub struct Priced {
    pub buyer: Uuid,
    pub seller: Uuid,
    pub currency: CurrencyCode,
    pub order_date: NaiveDate,
    pub lines: Vec<(Uuid, i32, PricedLine)>,
    pub total: Decimal,
}

fn not_intercompany(detail: &str) -> ApiError {
    ApiError::unprocessable("not_intercompany", detail)
}

#[derive(Queryable)]
struct ProductTerms {
    id: Uuid,
    category_id: Uuid,
    seller_company_id: Uuid,
    list_price: Decimal,
    unit_cost: Decimal,
    active: bool,
    intercompany_eligible: bool,
}

/// Prices `request` for `group` on `date` under the seller's policies. Buyer and seller must be
/// two companies of the group (422 `not_intercompany`); every product sold by the seller,
/// active and open to intercompany trade (422 `not_eligible`); every line covered by a policy
/// (422 `no_transfer_pricing_policy`).
pub async fn price(
    conn: &mut AsyncPgConnection,
    group: GroupId,
    request: &Requested,
    date: NaiveDate,
) -> Result<Priced, ApiError> {
    if request.buyer == request.seller {
        return Err(not_intercompany(
            "buyer_company_id: buyer and seller must be two different companies",
        ));
    }
    if company_currency(conn, group, request.buyer)
        .await?
        .is_none()
    {
        return Err(not_intercompany(
            "buyer_company_id: not a company of your group",
        ));
    }
    let currency = company_currency(conn, group, request.seller)
        .await?
        .ok_or_else(|| not_intercompany("seller_company_id: not a company of your group"))?;
    let found = products_of(conn, group, request).await?;
    let terms = policies_in_force(conn, group, request, date).await?;
    let mut priced = Vec::with_capacity(request.lines.len());
    for (index, (id, quantity)) in request.lines.iter().enumerate() {
        let product = found
            .get(id)
            .filter(|p| CompanyId::from(p.seller_company_id) == request.seller && p.active && p.intercompany_eligible)
            .ok_or_else(|| ApiError::Rule {
                status: actix_web::http::StatusCode::UNPROCESSABLE_ENTITY,
                code: "not_eligible",
                detail: format!(
                    "lines[{index}].product_id: not an active product of the seller open to intercompany orders"
                ),
            })?;
        let policy =
            transfer_pricing::select(&terms, request.buyer.uuid(), product.category_id, date)
                .ok_or_else(|| {
                    ApiError::unprocessable(
                        "no_transfer_pricing_policy",
                        format!(
                    "lines[{index}].product_id: no transfer-pricing policy of the seller covers \
                         this product for this buyer on {date}"
                ),
                    )
                })?;
        let line = transfer_pricing::price_line(
            policy,
            product.unit_cost,
            product.list_price,
            u32::try_from(*quantity).unwrap_or(u32::MAX),
            currency,
        )?;
        priced.push((*id, *quantity, line));
    }
    let total = crate::domain::money::sum(priced.iter().map(|(_, _, l)| l.line_total))?;
    Ok(Priced {
        buyer: request.buyer.into(),
        seller: request.seller.into(),
        currency,
        order_date: date,
        lines: priced,
        total,
    })
}

/// The terms of the products `request` names, by id (those of the group only).
async fn products_of(
    conn: &mut AsyncPgConnection,
    group: GroupId,
    request: &Requested,
) -> Result<HashMap<Uuid, ProductTerms>, ApiError> {
    let ids: Vec<Uuid> = request.lines.iter().map(|(id, _)| *id).collect();
    let found = products::table
        .filter(products::group_id.eq(group))
        .filter(products::id.eq_any(&ids))
        .select((
            products::id,
            products::category_id,
            products::seller_company_id,
            products::list_price,
            products::unit_cost,
            products::active,
            products::intercompany_eligible,
        ))
        .load::<ProductTerms>(conn)
        .await?
        .into_iter()
        .map(|p| (p.id, p))
        .collect();
    Ok(found)
}

/// The seller's policies for this buyer (or any buyer) valid on `date`, share-locked so that
/// a change of terms waits for the order priced with them.
async fn policies_in_force(
    conn: &mut AsyncPgConnection,
    group: GroupId,
    request: &Requested,
    date: NaiveDate,
) -> Result<Vec<transfer_pricing::PolicyTerms>, ApiError> {
    let terms: Vec<transfer_pricing::PolicyTerms> = policies::table
        .filter(policies::group_id.eq(group))
        .filter(policies::seller_company_id.eq(request.seller))
        .filter(
            policies::buyer_company_id
                .is_null()
                .or(policies::buyer_company_id.eq(request.buyer)),
        )
        .filter(policies::valid_from.le(date))
        .filter(policies::valid_to.is_null().or(policies::valid_to.ge(date)))
        .select(PolicyRow::as_select())
        // Shared locks: a change of terms or a new version (which lock the policy for update)
        // waits until the order priced with it has committed, then sees its lines.
        .for_share()
        .load::<PolicyRow>(conn)
        .await?
        .iter()
        .map(PolicyRow::terms)
        .collect::<Result<_, _>>()?;
    Ok(terms)
}
