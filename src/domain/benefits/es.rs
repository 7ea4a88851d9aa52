//! `es_lirpf_ordinary`: art. 42.2 and 43 LIRPF with art. 48 RIRPF. A discount on a line of at
//! most 15 % is an ordinary (market) discount and not income while the employee's ordinary
//! discounts of the calendar year stay within 1,000.00 EUR; a line discounted by more, and the
//! part of the year's ordinary discounts above 1,000.00, is income in kind.

use rust_decimal::Decimal;

use super::{share, Assessment, Facts, Reason};
use crate::domain::Overflow;

/// The yearly ceiling of ordinary discounts, in euros (the rule is for EUR employers).
pub const ORDINARY_LIMIT: Decimal = Decimal::from_parts(100_000, 0, 0, false, 2);
const ORDINARY_PERCENT: Decimal = Decimal::from_parts(15, 0, 0, false, 0);

/// The next line of a year whose ordinary discounts so far add up to `used`.
pub fn assess(facts: &Facts, used: Decimal) -> Result<Assessment, Overflow> {
    let discount = facts.discount()?;
    if discount > share(facts.list_total, ORDINARY_PERCENT)? {
        return Assessment::taxed(discount, discount, Reason::AboveOrdinaryRate);
    }
    Assessment::drawing(
        discount,
        discount,
        (ORDINARY_LIMIT, used),
        (Reason::Ordinary, Reason::AboveOrdinaryLimit),
    )
}

#[cfg(test)]
mod tests {
    use super::super::tests::{currency, line};
    use super::super::{Rule, Year};
    use super::*;
    use rust_decimal_macros::dec;

    #[test]
    fn ten_percent_on_five_thousand_a_year_is_ordinary() {
        // 10 % off 5,000 € over a year: 500 € of ordinary discounts, nothing taxable.
        let mut year = Year::new(Rule::EsLirpfOrdinary, currency("EUR"));
        for _ in 0..5 {
            let a = year.assess(&line(dec!(1000.00), dec!(900.00))).unwrap();
            assert_eq!(
                (a.taxable, a.reason),
                (Some(Decimal::ZERO), Reason::Ordinary)
            );
        }
        assert_eq!(year.allowance_used(), Some(dec!(500.00)));
    }

    #[test]
    fn above_fifteen_percent_or_above_the_ceiling_is_income() {
        // 20 % off 100 € → the whole 20 € taxable.
        let a = assess(&line(dec!(100.00), dec!(80.00)), Decimal::ZERO).unwrap();
        assert_eq!(
            (a.taxable, a.reason),
            (Some(dec!(20.00)), Reason::AboveOrdinaryRate)
        );
        // 10 % off 3,000 € with 900 € of the ceiling used: 100 free, 200 taxable.
        let b = assess(&line(dec!(3000.00), dec!(2700.00)), dec!(900.00)).unwrap();
        assert_eq!((b.taxable, b.allowance), (Some(dec!(200.00)), dec!(100.00)));
        assert_eq!(b.reason, Reason::AboveOrdinaryLimit);
    }
}
