//! The shape of an intercompany order request, checked before anything is read: 1–50 lines,
//! quantities 1–1 000 000, each product once, and the caller ordering for its own company.

use std::collections::HashSet;

use uuid::Uuid;

use super::dto::NewIcOrder;
use crate::error::{ApiError, FieldError};
use crate::identity::auth::CurrentUser;
use crate::ids::CompanyId;

pub const MAX_LINES: usize = 50;
pub const MAX_QUANTITY: i64 = 1_000_000;

/// A request whose shape is valid.
pub struct Requested {
    pub buyer: CompanyId,
    pub seller: CompanyId,
    pub lines: Vec<(Uuid, i32)>,
}

/// Only a purchaser of the buyer orders for it (403 otherwise), and the request's shape must
/// hold (422 naming every field at fault).
pub fn validate(user: &CurrentUser, request: &NewIcOrder) -> Result<Requested, ApiError> {
    if user.company_id != CompanyId::from(request.buyer_company_id) {
        return Err(ApiError::Rule {
            status: actix_web::http::StatusCode::FORBIDDEN,
            code: "forbidden",
            detail: "buyer_company_id: purchasers order for their own company only".into(),
        });
    }
    let mut errors = Vec::new();
    if request.lines.is_empty() || request.lines.len() > MAX_LINES {
        errors.push(FieldError::new("lines", "must hold 1–50 lines"));
    }
    let mut seen = HashSet::new();
    let mut lines = Vec::with_capacity(request.lines.len());
    for (index, line) in request.lines.iter().enumerate() {
        match i32::try_from(line.quantity) {
            Ok(quantity) if (1..=MAX_QUANTITY).contains(&line.quantity) => {
                lines.push((line.product_id, quantity))
            }
            _ => errors.push(FieldError::new(
                format!("lines[{index}].quantity"),
                "must be between 1 and 1000000",
            )),
        }
        if !seen.insert(line.product_id) {
            errors.push(FieldError::new(
                format!("lines[{index}].product_id"),
                "each product may appear once",
            ));
        }
    }
    if errors.is_empty() {
        Ok(Requested {
            buyer: request.buyer_company_id.into(),
            seller: request.seller_company_id.into(),
            lines,
        })
    } else {
        Err(ApiError::invalid(errors))
    }
}
