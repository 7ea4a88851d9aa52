//! Who sees and who moves an intercompany order, decided once: finance and admins of the group
//! see every order, purchasers those their company buys or sells (everyone else gets 404); the
//! seller's side accepts, rejects and ships, the buyer's side cancels, finance settles (403).

use super::queries::OrderRow;
use crate::error::ApiError;
use crate::identity::auth::{CurrentUser, Role};
use crate::ids::CompanyId;

/// Whether `user` sees `order` at all.
pub fn sees(user: &CurrentUser, order: &OrderRow) -> bool {
    user.has(Role::Admin)
        || user.has(Role::Finance)
        || (user.has(Role::Purchaser)
            && (user.company_id == order.buyer_company_id
                || user.company_id == order.seller_company_id))
}

/// The company whose orders alone `user` may list: their own, unless they see the group's.
pub fn listed_company(user: &CurrentUser) -> Option<CompanyId> {
    (!user.has(Role::Admin) && !user.has(Role::Finance)).then_some(user.company_id)
}

/// The side that acts on an order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Party {
    /// The seller's purchasers, or an admin.
    Seller,
    /// The buyer's purchasers, or an admin.
    Buyer,
    /// Finance.
    Finance,
}

/// 404 when `user` does not see the order; 403 when they see it but may not act for `party`.
pub fn authorize(user: &CurrentUser, order: &OrderRow, party: Party) -> Result<(), ApiError> {
    if !sees(user, order) {
        return Err(ApiError::NotFound);
    }
    let purchaser_of = |company: CompanyId| user.has(Role::Purchaser) && user.company_id == company;
    let allowed = match party {
        Party::Seller => user.has(Role::Admin) || purchaser_of(order.seller_company_id),
        Party::Buyer => user.has(Role::Admin) || purchaser_of(order.buyer_company_id),
        Party::Finance => user.has(Role::Finance),
    };
    if allowed {
        Ok(())
    } else {
        Err(ApiError::Forbidden)
    }
}
