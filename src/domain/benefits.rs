//! The taxable part of an employee discount (§7). Under `us_irc_132` (IRC §132(c), IRS
//! Publication 15-B) a line's discount is a qualified employee discount up to the seller's
//! gross-profit percentage of its list price for goods, or 20 % for services; the rest is
//! taxable excess. A line qualifies at all only for qualified property (offered to outside
//! customers, Reg. §1.132-3(a)(2)(iii)) in the employee's line of business (Reg. §1.132-4).
//! Under `none`, the discount is reported whole and nothing is split.

use rust_decimal::Decimal;

use super::codes::CurrencyCode;
use super::{money, Overflow};

/// The employer's rule.
pub use super::kinds::BenefitTaxRule as Rule;

/// One order line, in the currency the report is made in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Line {
    pub list_total: Decimal,
    pub discount: Decimal,
    pub service: bool,
    /// Offered to outside customers, and sold within the employee's line of business.
    pub qualifies: bool,
    /// The seller's gross-profit percentage (none set: 0 %, so a goods discount is all
    /// taxable — the conservative reading).
    pub seller_gross_profit_percent: Option<Decimal>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Split {
    pub qualified: Decimal,
    pub taxable: Decimal,
}

const SERVICE_CAP_PERCENT: Decimal = Decimal::from_parts(20, 0, 0, false, 0);

pub fn split(rule: Rule, line: Line, currency: CurrencyCode) -> Result<Split, Overflow> {
    Ok(match rule {
        Rule::None => Split {
            qualified: line.discount,
            taxable: Decimal::ZERO,
        },
        Rule::UsIrc132 if !line.qualifies => Split {
            qualified: Decimal::ZERO,
            taxable: line.discount,
        },
        Rule::UsIrc132 => {
            let percent = if line.service {
                SERVICE_CAP_PERCENT
            } else {
                line.seller_gross_profit_percent.unwrap_or(Decimal::ZERO)
            };
            let cap = money::round(
                money::div(money::mul(line.list_total, percent)?, Decimal::ONE_HUNDRED)?,
                currency,
            );
            let qualified = line.discount.min(cap).max(Decimal::ZERO);
            Split {
                qualified,
                taxable: money::sub(line.discount, qualified)?,
            }
        }
    })
}

/// Whether a seller works in the employee's line of business: yes unless both are set and
/// differ.
pub fn same_line_of_business(seller: Option<&str>, employer: Option<&str>) -> bool {
    match (seller, employer) {
        (Some(seller), Some(employer)) => seller.eq_ignore_ascii_case(employer),
        _ => true,
    }
}

#[cfg(test)]
#[allow(clippy::arithmetic_side_effects)]
mod tests {
    use super::*;

    // The checked function, unwrapped: no value in these tests comes near an overflow.
    fn split(rule: Rule, line: Line, currency: CurrencyCode) -> Split {
        super::split(rule, line, currency).unwrap()
    }
    use proptest::prelude::*;
    use rust_decimal_macros::dec;

    fn usd() -> CurrencyCode {
        CurrencyCode::parse("USD").unwrap_or_else(|| unreachable!())
    }

    fn goods(list: Decimal, discount: Decimal, gp: Decimal) -> Line {
        Line {
            list_total: list,
            discount,
            service: false,
            qualifies: true,
            seller_gross_profit_percent: Some(gp),
        }
    }

    #[test]
    fn publication_15_b_worked_case() {
        // 12 % gross profit, a 300 discount on a 1 000 item: 120 qualified, 180 taxable.
        let split = split(
            Rule::UsIrc132,
            goods(dec!(1000.00), dec!(300.00), dec!(12)),
            usd(),
        );
        assert_eq!(
            split,
            Split {
                qualified: dec!(120.00),
                taxable: dec!(180.00)
            }
        );
    }

    #[test]
    fn services_are_capped_at_twenty_percent() {
        let line = Line {
            service: true,
            ..goods(dec!(500.00), dec!(150.00), dec!(60))
        };
        assert_eq!(
            split(Rule::UsIrc132, line, usd()),
            Split {
                qualified: dec!(100.00),
                taxable: dec!(50.00)
            }
        );
        // Below the cap, all of it qualifies.
        let small = Line {
            service: true,
            ..goods(dec!(500.00), dec!(80.00), dec!(0))
        };
        assert_eq!(split(Rule::UsIrc132, small, usd()).taxable, Decimal::ZERO);
    }

    #[test]
    fn non_qualified_property_or_another_line_of_business_is_all_taxable() {
        let line = Line {
            qualifies: false,
            ..goods(dec!(1000.00), dec!(300.00), dec!(50))
        };
        assert_eq!(
            split(Rule::UsIrc132, line, usd()),
            Split {
                qualified: Decimal::ZERO,
                taxable: dec!(300.00)
            }
        );
        assert!(!same_line_of_business(Some("5311"), Some("4451")));
        assert!(same_line_of_business(Some("5311"), None));
        assert!(same_line_of_business(None, None));
    }

    #[test]
    fn without_a_rule_nothing_is_split() {
        let split = split(
            Rule::None,
            goods(dec!(1000.00), dec!(300.00), dec!(12)),
            usd(),
        );
        assert_eq!(
            split,
            Split {
                qualified: dec!(300.00),
                taxable: Decimal::ZERO
            }
        );
    }

    proptest! {
        #[test]
        fn the_parts_add_up_to_the_discount(
            list in 0i64..1_000_000_000,
            share in 0i64..=100,
            gp in 0i64..=100,
            service: bool,
            qualifies: bool,
        ) {
            let list_total = Decimal::new(list, 2);
            let discount = money::round(list_total * Decimal::from(share) / Decimal::ONE_HUNDRED, usd());
            let line = Line { list_total, discount, service, qualifies, seller_gross_profit_percent: Some(Decimal::from(gp)) };
            let split = split(Rule::UsIrc132, line, usd());
            prop_assert_eq!(split.qualified + split.taxable, discount);
            prop_assert!(split.qualified >= Decimal::ZERO && split.taxable >= Decimal::ZERO);
        }
    }
}
