//! Employee pricing: which discount applies to whom, and the resulting unit price.

use rust_decimal::Decimal;

use super::kinds::EmploymentType;
use super::money::Money;
use super::Overflow;

/// What a discount tier grants.
#[derive(Debug, Clone, Default)]
pub struct TierTerms {
    pub discount_percent: Decimal,
    /// Employment types the tier is open to.
    pub eligible_employment_types: Vec<EmploymentType>,
}

/// The employee's discount on a product: the tier's override for the product's category
/// (`category_override`) if any, else the tier's discount; zero without a tier or when the
/// employment type is not eligible.
pub fn discount_percent(
    tier: Option<&TierTerms>,
    employment_type: EmploymentType,
    category_override: Option<Decimal>,
) -> Decimal {
    let Some(tier) = tier else {
        return Decimal::ZERO;
    };
    if !tier.eligible_employment_types.contains(&employment_type) {
        return Decimal::ZERO;
    }
    category_override.unwrap_or(tier.discount_percent)
}

/// The facts about a product that decide whether an employee may see and buy it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Offer {
    pub active: bool,
    pub employee_eligible: bool,
    /// The product belongs to the employee's group.
    pub same_group: bool,
}

/// The one eligibility rule (catalog reads, quotes and orders all ask it): an employee may
/// see and buy a product of their own group that is active and offered to employees. Admins
/// also see their group's other products (to manage them), but may not buy them.
pub fn employee_may_buy(offer: Offer) -> bool {
    offer.same_group && offer.active && offer.employee_eligible
}

/// Whether a product shows at all: what an employee may buy, and for an admin everything of
/// their group.
pub fn visible(offer: Offer, admin: bool) -> bool {
    employee_may_buy(offer) || (admin && offer.same_group)
}

/// A unit price split into list price, discount and what the employee pays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnitPrice {
    pub list_price: Money,
    pub discount: Money,
    pub employee_price: Money,
}

/// Applies `percent` to `list_price`: the discount is rounded half away from zero to the
/// currency's minor unit (15 % of 0.30 → 0.05), and the price is what remains.
pub fn employee_unit_price(list_price: Money, percent: Decimal) -> Result<UnitPrice, Overflow> {
    let discount = list_price.percent(percent)?.min(list_price)?;
    Ok(UnitPrice {
        list_price,
        discount,
        employee_price: list_price.checked_sub(discount)?,
    })
}

/// Formats a percentage without trailing zeros (`15`, `12.5`).
pub fn format_percent(percent: Decimal) -> String {
    percent.normalize().to_string()
}

#[cfg(test)]
#[allow(clippy::arithmetic_side_effects)]
mod tests {
    use super::*;
    use crate::domain::codes::CurrencyCode;
    use crate::domain::money;
    use proptest::prelude::*;
    use rust_decimal_macros::dec;

    fn currency(code: &str) -> CurrencyCode {
        CurrencyCode::parse(code).unwrap_or_else(|| unreachable!())
    }

    fn tier() -> TierTerms {
        TierTerms {
            discount_percent: dec!(20),
            eligible_employment_types: vec![EmploymentType::Direct],
        }
    }

    #[test]
    fn category_override_wins_over_the_tier_default() {
        assert_eq!(
            discount_percent(Some(&tier()), EmploymentType::Direct, Some(dec!(10))),
            dec!(10)
        );
        assert_eq!(
            discount_percent(Some(&tier()), EmploymentType::Direct, None),
            dec!(20)
        );
        // An override of zero is an override, not "no override".
        assert_eq!(
            discount_percent(Some(&tier()), EmploymentType::Direct, Some(Decimal::ZERO)),
            Decimal::ZERO
        );
    }

    #[test]
    fn no_tier_or_ineligible_employment_gets_nothing() {
        assert_eq!(
            discount_percent(None, EmploymentType::Direct, Some(dec!(10))),
            Decimal::ZERO
        );
        assert_eq!(
            discount_percent(Some(&tier()), EmploymentType::Outsourced, Some(dec!(10))),
            Decimal::ZERO
        );
        assert_eq!(
            discount_percent(Some(&tier()), EmploymentType::Outsourced, None),
            Decimal::ZERO
        );
    }

    #[test]
    fn only_active_employee_products_of_the_own_group_may_be_bought() {
        let offer = Offer {
            active: true,
            employee_eligible: true,
            same_group: true,
        };
        assert!(employee_may_buy(offer));
        for other in [
            Offer {
                active: false,
                ..offer
            },
            Offer {
                employee_eligible: false,
                ..offer
            },
            Offer {
                same_group: false,
                ..offer
            },
        ] {
            assert!(!employee_may_buy(other));
            assert!(!visible(other, false));
        }
        assert!(visible(
            Offer {
                active: false,
                ..offer
            },
            true
        ));
        assert!(!visible(
            Offer {
                same_group: false,
                ..offer
            },
            true
        ));
    }

    #[test]
    fn worked_examples() {
        let usd = currency("USD");
        // Half away from zero: 0.045 → 0.05 (banker's rounding would give 0.04).
        let price = |list, percent, currency| {
            employee_unit_price(Money::new(list, currency), percent)
                .unwrap_or_else(|e| panic!("{e}"))
        };
        let price_of = price;
        let price = price_of(dec!(0.30), dec!(15), usd);
        assert_eq!(
            (price.discount.amount(), price.employee_price.amount()),
            (dec!(0.05), dec!(0.25))
        );
        let price = price_of(dec!(19.99), dec!(12.5), usd);
        assert_eq!(
            (price.discount.amount(), price.employee_price.amount()),
            (dec!(2.50), dec!(17.49))
        );
        let price = price_of(dec!(100), dec!(0), usd);
        assert_eq!(price.employee_price.to_string(), "100.00");
        // JPY has no minor unit: 15 % of 1,250 = 187.5 → 188.
        let price = price_of(dec!(1250), dec!(15), currency("JPY"));
        assert_eq!(
            (price.discount.amount(), price.employee_price.amount()),
            (dec!(188), dec!(1062))
        );
        assert_eq!(price.employee_price.to_string(), "1062");
        // KWD has three decimals.
        let price = price_of(dec!(1.005), dec!(10), currency("KWD"));
        assert_eq!(price.discount.to_string(), "0.101");
        assert_eq!(format_percent(dec!(15.0000)), "15");
        assert_eq!(format_percent(dec!(12.5000)), "12.5");
    }

    proptest! {
        #[test]
        fn employee_price_is_within_bounds_and_on_the_grid(cents in 0i64..100_000_000, percent_bp in 0i64..=10_000) {
            let usd = currency("USD");
            let list = Decimal::new(cents, 2);
            let percent = Decimal::new(percent_bp, 2);
            let price = employee_unit_price(Money::new(list, usd), percent);
            prop_assert!(price.is_ok());
            let price = price.unwrap_or_else(|e| panic!("{e}"));
            let (list, discount, paid) = (
                price.list_price.amount(),
                price.discount.amount(),
                price.employee_price.amount(),
            );
            prop_assert!(paid >= Decimal::ZERO);
            prop_assert!(paid <= list);
            prop_assert_eq!(discount + paid, list);
            prop_assert_eq!(paid.scale(), 2);
            prop_assert_eq!(money::round(paid, usd), paid);
            prop_assert_eq!(price.employee_price.currency(), usd);
        }
    }
}
