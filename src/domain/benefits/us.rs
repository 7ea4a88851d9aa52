//! `us_irc_132`: the qualified employee discount of IRC §132(c) (IRS Publication 15-B).
//!
//! - A line's qualified discount is at most the seller's gross-profit percentage of its list
//!   price for goods (§132(c)(1)(A)) and 20 % for services (§132(c)(1)(B)); the rest is taxable.
//! - Only qualified property counts: offered to outside customers (Reg. §1.132-3(a)(2)(iii)),
//!   in the employee's line of business, judged by two-digit SIC major group (Reg.
//!   §1.132-4(a)(2)).
//! - Non-discrimination (Reg. §1.132-8(a)): a highly compensated employee priced by a tier that
//!   favours HCEs gets no exclusion at all on those lines.

use rust_decimal::Decimal;

use super::{share, Assessment, Facts, Reason};
use crate::domain::codes::{CurrencyCode, SicCode};
use crate::domain::{money, Overflow};

const SERVICE_LIMIT_PERCENT: Decimal = Decimal::from_parts(20, 0, 0, false, 0);

pub fn assess(facts: &Facts, currency: CurrencyCode) -> Result<Assessment, Overflow> {
    let discount = facts.discount()?;
    let all_taxable = |reason| Assessment::taxed(discount, discount, reason);
    if facts.highly_compensated && facts.tier_discriminatory {
        return all_taxable(Reason::DiscriminatoryTier);
    }
    if !facts.offered_to_customers {
        return all_taxable(Reason::NotOfferedToCustomers);
    }
    if !facts.same_line_of_business {
        return all_taxable(Reason::OtherLineOfBusiness);
    }
    let (percent, above) = if facts.service {
        (SERVICE_LIMIT_PERCENT, Reason::AboveServiceLimit)
    } else {
        (
            facts.seller_gp_percent.unwrap_or(Decimal::ZERO),
            Reason::AboveGrossProfit,
        )
    };
    let limit = money::round(share(facts.list_total, percent)?, currency);
    let taxable = money::sub(discount, limit)?.max(Decimal::ZERO);
    let reason = if taxable.is_zero() {
        Reason::Qualified
    } else {
        above
    };
    Assessment::taxed(discount, taxable, reason)
}

/// Whether a seller works in the employee's line of business: the same SIC major group (the
/// code's first two digits), or either code unknown (no basis to deny it).
pub fn same_line_of_business(seller: Option<SicCode>, employer: Option<SicCode>) -> bool {
    match (seller, employer) {
        (Some(seller), Some(employer)) => seller.major_group() == employer.major_group(),
        _ => true,
    }
}

/// Reg. §1.132-8(a), as the spec applies it: a tier is discriminatory when all its members (of
/// the employer) are highly compensated and its discount on the line's category exceeds the
/// best discount on it of any tier with a non-HCE member of the same employer (none: 0 %).
pub fn tier_discriminatory(
    members_all_highly_compensated: bool,
    tier_percent: Decimal,
    best_non_hce_percent: Option<Decimal>,
) -> bool {
    members_all_highly_compensated && tier_percent > best_non_hce_percent.unwrap_or(Decimal::ZERO)
}

#[cfg(test)]
mod tests {
    use super::super::tests::{currency, line};
    use super::*;
    use rust_decimal_macros::dec;

    fn usd() -> CurrencyCode {
        currency("USD")
    }

    fn parts(a: Assessment) -> (Decimal, Decimal, Reason) {
        (
            a.qualified.unwrap_or_default(),
            a.taxable.unwrap_or_default(),
            a.reason,
        )
    }

    #[test]
    fn goods_within_gross_profit_and_above() {
        // $200 sold at $120 by a seller with 35 % gross profit: $70 excluded, $10 taxable.
        let facts = Facts {
            seller_gp_percent: Some(dec!(35)),
            ..line(dec!(200.00), dec!(120.00))
        };
        assert_eq!(
            parts(assess(&facts, usd()).unwrap()),
            (dec!(70.00), dec!(10.00), Reason::AboveGrossProfit)
        );
        // Publication 15-B: 12 % gross profit, $1,000 at $700 → $120 / $180.
        let facts = Facts {
            seller_gp_percent: Some(dec!(12)),
            ..line(dec!(1000.00), dec!(700.00))
        };
        assert_eq!(
            parts(assess(&facts, usd()).unwrap()),
            (dec!(120.00), dec!(180.00), Reason::AboveGrossProfit)
        );
    }

    #[test]
    fn services_are_limited_to_twenty_percent() {
        // $1,000 at $700: $200 excluded, $100 taxable.
        let facts = Facts {
            service: true,
            ..line(dec!(1000.00), dec!(700.00))
        };
        assert_eq!(
            parts(assess(&facts, usd()).unwrap()),
            (dec!(200.00), dec!(100.00), Reason::AboveServiceLimit)
        );
        let small = Facts {
            service: true,
            ..line(dec!(1000.00), dec!(900.00))
        };
        assert_eq!(
            parts(assess(&small, usd()).unwrap()),
            (dec!(100.00), Decimal::ZERO, Reason::Qualified)
        );
    }

    #[test]
    fn property_not_qualified_is_all_taxable() {
        let base = Facts {
            seller_gp_percent: Some(dec!(50)),
            ..line(dec!(100.00), dec!(80.00))
        };
        for (facts, reason) in [
            (
                Facts {
                    offered_to_customers: false,
                    ..base
                },
                Reason::NotOfferedToCustomers,
            ),
            (
                Facts {
                    same_line_of_business: false,
                    ..base
                },
                Reason::OtherLineOfBusiness,
            ),
        ] {
            assert_eq!(
                parts(assess(&facts, usd()).unwrap()),
                (Decimal::ZERO, dec!(20.00), reason)
            );
        }
    }

    #[test]
    fn sic_major_groups_decide_the_line_of_business() {
        let code = |raw| SicCode::parse(raw).unwrap();
        // 5651 (family clothing stores) and 5661 (shoe stores): major group 56, apparel.
        assert!(same_line_of_business(
            Some(code("5651")),
            Some(code("5661"))
        ));
        assert!(!same_line_of_business(
            Some(code("5311")),
            Some(code("4451"))
        ));
        assert!(same_line_of_business(Some(code("5311")), None));
        assert!(same_line_of_business(None, None));
    }

    #[test]
    fn an_hce_only_tier_above_everyone_elses_is_discriminatory() {
        // 35 % for HCEs only beside 20 % for a tier with non-HCE members.
        assert!(tier_discriminatory(true, dec!(35), Some(dec!(20))));
        // The same 20 % as everyone: not discriminatory.
        assert!(!tier_discriminatory(true, dec!(20), Some(dec!(20))));
        // A tier with a non-HCE member never is.
        assert!(!tier_discriminatory(false, dec!(35), Some(dec!(20))));
        // No tier with a non-HCE member: any discount for HCEs alone is.
        assert!(tier_discriminatory(true, dec!(5), None));
        // The HCE's whole 35 % is taxable; a non-HCE's line is not touched by the test.
        let hce = Facts {
            highly_compensated: true,
            tier_discriminatory: true,
            seller_gp_percent: Some(dec!(40)),
            ..line(dec!(100.00), dec!(65.00))
        };
        assert_eq!(
            parts(assess(&hce, usd()).unwrap()),
            (Decimal::ZERO, dec!(35.00), Reason::DiscriminatoryTier)
        );
        let non_hce = Facts {
            seller_gp_percent: Some(dec!(40)),
            ..line(dec!(100.00), dec!(80.00))
        };
        assert_eq!(
            parts(assess(&non_hce, usd()).unwrap()),
            (dec!(20.00), Decimal::ZERO, Reason::Qualified)
        );
    }
}
