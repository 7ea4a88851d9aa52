//! `de_estg_8_3`: §8 Abs. 3 EStG (Rabattfreibetrag). Goods and services the employing company
//! itself sells to outside customers are valued at 96 % of their end price (the 4 % markdown);
//! the benefit is that value less what the employee paid, and 1,080.00 EUR of it per employee
//! per calendar year is tax-free (§8 Abs. 3 Satz 2). Products of another group company are
//! valued under §8 Abs. 2 instead: their whole discount is taxable here.

use rust_decimal::Decimal;

use super::{share, Assessment, Facts, Reason};
use crate::domain::codes::CurrencyCode;
use crate::domain::{money, Overflow};

/// The yearly allowance, in euros (the rule is for EUR employers).
pub const ALLOWANCE: Decimal = Decimal::from_parts(108_000, 0, 0, false, 2);
const VALUED_AT_PERCENT: Decimal = Decimal::from_parts(96, 0, 0, false, 0);

/// The next line of a year in which `used` of the allowance is already spent.
pub fn assess(
    facts: &Facts,
    currency: CurrencyCode,
    used: Decimal,
) -> Result<Assessment, Overflow> {
    let discount = facts.discount()?;
    if !facts.own_product {
        return Assessment::taxed(discount, discount, Reason::OtherGroupCompany);
    }
    let value = money::round(share(facts.list_total, VALUED_AT_PERCENT)?, currency);
    let benefit = money::sub(value, facts.paid_total)?.max(Decimal::ZERO);
    Assessment::drawing(
        discount,
        benefit,
        (ALLOWANCE, used),
        (Reason::WithinAllowance, Reason::AboveAllowance),
    )
}

#[cfg(test)]
mod tests {
    use super::super::tests::{currency, line};
    use super::super::{Rule, Year};
    use super::*;
    use rust_decimal_macros::dec;

    #[test]
    fn the_markdown_and_the_allowance_are_free_the_rest_is_wages() {
        // 7,500 € at 6,000 €: benefit 96 % × 7,500 − 6,000 = 1,200; 1,080 free, 120 taxable.
        let mut year = Year::new(Rule::DeEstg83, currency("EUR"));
        let a = year.assess(&line(dec!(7500.00), dec!(6000.00))).unwrap();
        assert_eq!(a.discount, dec!(1500.00));
        assert_eq!(a.taxable, Some(dec!(120.00)));
        assert_eq!(a.qualified, Some(dec!(1380.00)));
        assert_eq!(a.allowance, dec!(1080.00));
        assert_eq!(a.reason, Reason::AboveAllowance);
        // The allowance is spent: a later line of the year is taxable from the first cent.
        let b = year.assess(&line(dec!(100.00), dec!(50.00))).unwrap();
        assert_eq!(b.taxable, Some(dec!(46.00)));
        assert_eq!(year.allowance_used(), Some(dec!(1080.00)));
    }

    #[test]
    fn a_sister_companys_product_is_taxable_whole() {
        let facts = Facts {
            own_product: false,
            ..line(dec!(7500.00), dec!(6000.00))
        };
        let a = assess(&facts, currency("EUR"), Decimal::ZERO).unwrap();
        assert_eq!(a.taxable, Some(dec!(1500.00)));
        assert_eq!(a.qualified, Some(Decimal::ZERO));
        assert_eq!(a.allowance, Decimal::ZERO);
        assert_eq!(a.reason, Reason::OtherGroupCompany);
    }

    #[test]
    fn a_discount_within_the_markdown_is_no_benefit() {
        // 3 % off: 97 paid against a value of 96.
        let a = assess(
            &line(dec!(100.00), dec!(97.00)),
            currency("EUR"),
            Decimal::ZERO,
        )
        .unwrap();
        assert_eq!(
            (a.taxable, a.allowance),
            (Some(Decimal::ZERO), Decimal::ZERO)
        );
        assert_eq!(a.reason, Reason::WithinAllowance);
    }
}
