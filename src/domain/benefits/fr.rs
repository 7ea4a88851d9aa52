//! `fr_urssaf_30`: the URSSAF tolerance (BOSS, avantages en nature, §1330 ff.): a discount on
//! the employer's own products of at most 30 % of the public price is disregarded; above it,
//! the whole discount is an avantage en nature. Products of another group company get no
//! tolerance (Cass. 2e civ., 2021: a parent selling to a subsidiary's staff).

use rust_decimal::Decimal;

use super::{share, Assessment, Facts, Reason};
use crate::domain::Overflow;

const TOLERANCE_PERCENT: Decimal = Decimal::from_parts(30, 0, 0, false, 0);

pub fn assess(facts: &Facts) -> Result<Assessment, Overflow> {
    let discount = facts.discount()?;
    if !facts.own_product {
        return Assessment::taxed(discount, discount, Reason::OtherGroupCompany);
    }
    if discount <= share(facts.list_total, TOLERANCE_PERCENT)? {
        Assessment::taxed(discount, Decimal::ZERO, Reason::WithinTolerance)
    } else {
        Assessment::taxed(discount, discount, Reason::AboveTolerance)
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::line;
    use super::*;
    use rust_decimal_macros::dec;

    #[test]
    fn thirty_percent_is_tolerated_more_is_taxable_whole() {
        // 50 € at 38 € (24 % off) → 0; at 30 € (40 % off) → the whole 20 €.
        let a = assess(&line(dec!(50.00), dec!(38.00))).unwrap();
        assert_eq!(
            (a.taxable, a.reason),
            (Some(Decimal::ZERO), Reason::WithinTolerance)
        );
        let b = assess(&line(dec!(50.00), dec!(30.00))).unwrap();
        assert_eq!(
            (b.taxable, b.reason),
            (Some(dec!(20.00)), Reason::AboveTolerance)
        );
        // Exactly 30 % is still tolerated.
        let c = assess(&line(dec!(50.00), dec!(35.00))).unwrap();
        assert_eq!(c.taxable, Some(Decimal::ZERO));
    }

    #[test]
    fn a_sister_companys_product_gets_no_tolerance() {
        let facts = Facts {
            own_product: false,
            ..line(dec!(50.00), dec!(38.00))
        };
        let a = assess(&facts).unwrap();
        assert_eq!(
            (a.taxable, a.reason),
            (Some(dec!(12.00)), Reason::OtherGroupCompany)
        );
    }
}
