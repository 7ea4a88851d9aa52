//! The shape of an order request, checked before anything is read: 1–50 lines, each product
//! once, quantities 1–1000. Errors name the field (`lines[2].quantity`).

use std::collections::HashMap;

use uuid::Uuid;

use super::dto::NewOrder;
use crate::error::{ApiError, FieldError};
use crate::ids::ProductId;

/// A validated request: distinct products, quantities in range.
pub struct Requested {
    pub lines: Vec<(ProductId, u32)>,
    /// The caller's household member it is bought for.
    pub for_member: Option<Uuid>,
    /// Paid from wages over this many pay dates.
    pub payroll: Option<u32>,
}

impl Requested {
    /// The requested products, in request order.
    pub fn product_ids(&self) -> Vec<ProductId> {
        self.lines.iter().map(|(id, _)| *id).collect()
    }
}

pub fn validate(request: &NewOrder) -> Result<Requested, ApiError> {
    let mut errors = Vec::new();
    if request.lines.is_empty() || request.lines.len() > 50 {
        errors.push(FieldError::new("lines", "must hold 1–50 lines"));
    }
    let mut seen = HashMap::new();
    let mut lines = Vec::with_capacity(request.lines.len());
    for (index, line) in request.lines.iter().enumerate() {
        if !(1..=1000).contains(&line.quantity) {
            errors.push(FieldError::new(
                format!("lines[{index}].quantity"),
                "must be between 1 and 1000",
            ));
        }
        if seen.insert(line.product_id, index).is_some() {
            errors.push(FieldError::new(
                format!("lines[{index}].product_id"),
                "appears on more than one line",
            ));
        }
        lines.push((
            ProductId::from(line.product_id),
            u32::try_from(line.quantity).unwrap_or(0),
        ));
    }
    let payroll = request.payment.map(|payment| {
        let instalments = u32::try_from(payment.instalments)
            .ok()
            .filter(|n| (1..=crate::domain::payroll::MAX_INSTALMENTS).contains(n));
        if instalments.is_none() {
            errors.push(FieldError::new(
                "payment.instalments",
                "must be between 1 and 60",
            ));
        }
        instalments.unwrap_or(1)
    });
    if errors.is_empty() {
        Ok(Requested {
            lines,
            for_member: request.for_member_id,
            payroll,
        })
    } else {
        Err(ApiError::invalid(errors))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::orders::dto::OrderLineRequest;

    #[test]
    fn requests_are_validated_with_field_names() {
        let product = crate::ids::fresh();
        let request = NewOrder {
            lines: vec![
                OrderLineRequest {
                    product_id: product,
                    quantity: 0,
                },
                OrderLineRequest {
                    product_id: product,
                    quantity: 2,
                },
            ],
            for_member_id: None,
            payment: None,
        };
        let Err(ApiError::Validation { errors, .. }) = validate(&request) else {
            panic!("expected a validation error");
        };
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, vec!["lines[0].quantity", "lines[1].product_id"]);
        assert!(validate(&NewOrder {
            lines: vec![],
            for_member_id: None,
            payment: None,
        })
        .is_err());
    }
}
