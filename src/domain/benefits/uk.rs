//! `uk_bik_cost`: a benefit in kind is valued at its cost to the employer (ITEPA 2003 s.203,
//! as HMRC's Employment Income Manual EIM20101 applies it to discounted goods): the taxable
//! amount is the seller's cost of the line less what the employee paid, never below zero.

use rust_decimal::Decimal;

use super::{Assessment, Facts, Reason};
use crate::domain::{money, Overflow};

pub fn assess(facts: &Facts) -> Result<Assessment, Overflow> {
    let discount = facts.discount()?;
    let taxable = money::sub(facts.cost_total, facts.paid_total)?.max(Decimal::ZERO);
    let reason = if taxable.is_zero() {
        Reason::PaidAtLeastCost
    } else {
        Reason::BelowCost
    };
    Assessment::taxed(discount, taxable, reason)
}

#[cfg(test)]
mod tests {
    use super::super::tests::line;
    use super::*;
    use rust_decimal_macros::dec;

    #[test]
    fn only_what_falls_below_cost_is_taxable() {
        // Cost £60: paid £70 → nothing; paid £50 → £10.
        let at = |paid| Facts {
            cost_total: dec!(60.00),
            ..line(dec!(100.00), paid)
        };
        let a = assess(&at(dec!(70.00))).unwrap();
        assert_eq!(
            (a.taxable, a.reason),
            (Some(Decimal::ZERO), Reason::PaidAtLeastCost)
        );
        assert_eq!(a.qualified, Some(dec!(30.00)));
        let b = assess(&at(dec!(50.00))).unwrap();
        assert_eq!(
            (b.taxable, b.reason),
            (Some(dec!(10.00)), Reason::BelowCost)
        );
        assert_eq!(b.qualified, Some(dec!(40.00)));
    }
}
