//! The taxable part of an employee discount (§7), under the employer's rule. Every figure is
//! computed from the facts a line recorded when its order was fulfilled ([`Facts`]), in the
//! employer's (payroll) currency, one line at a time in the order the lines were earned: two
//! rules (Germany's allowance, Spain's ordinary-discount ceiling) count what the year has
//! already used, which [`Year`] carries from line to line.
//!
//! One module per rule, each citing its regulation: [`us`] (IRC §132), [`de`] (§8 Abs. 3
//! EStG), [`uk`] (benefit in kind at cost), [`fr`] (URSSAF tolerance), [`es`] (art. 43 LIRPF).

pub mod de;
pub mod es;
pub mod fr;
pub mod uk;
pub mod us;

use rust_decimal::Decimal;
use serde::Serialize;
use utoipa::ToSchema;

use super::codes::CurrencyCode;
use super::{money, Overflow};

/// The employer's rule.
pub use super::kinds::BenefitTaxRule as Rule;

/// What a line's tax depends on, as it stood at fulfilment, amounts in the employer's currency.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Facts {
    pub list_total: Decimal,
    pub paid_total: Decimal,
    /// The seller's `unit_cost` × quantity.
    pub cost_total: Decimal,
    pub service: bool,
    pub offered_to_customers: bool,
    /// Sold by the employing company itself (not by another company of the group).
    pub own_product: bool,
    /// The seller's gross-profit percentage (`None`: 0 %, so a goods discount is all taxable,
    /// the conservative reading).
    pub seller_gp_percent: Option<Decimal>,
    /// The seller works in the employee's line of business (same SIC major group).
    pub same_line_of_business: bool,
    pub highly_compensated: bool,
    /// Priced by a tier that fails the non-discrimination test ([`us::tier_discriminatory`]).
    pub tier_discriminatory: bool,
}

impl Facts {
    pub fn discount(&self) -> Result<Decimal, Overflow> {
        money::sub(self.list_total, self.paid_total)
    }
}

/// Why a line's discount is taxed as it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
#[schema(as = BenefitReason)]
pub enum Reason {
    /// Rule `none`: nothing computed.
    NotComputed,
    /// us: within the gross-profit percentage (goods) or 20 % (services).
    Qualified,
    /// us: the part above the seller's gross-profit percentage is taxable.
    AboveGrossProfit,
    /// us: the part of a service discount above 20 % is taxable.
    AboveServiceLimit,
    /// us: not offered to outside customers, so not qualified property.
    NotOfferedToCustomers,
    /// us: the seller is in another SIC major group than the employer.
    OtherLineOfBusiness,
    /// us: a highly compensated employee priced by a discriminatory tier.
    DiscriminatoryTier,
    /// de, fr: sold by another company of the group; the whole discount is taxable.
    OtherGroupCompany,
    /// de: the benefit is covered by the yearly allowance.
    WithinAllowance,
    /// de: the benefit passes what is left of the yearly allowance.
    AboveAllowance,
    /// uk: the employee paid at least the employer's cost.
    PaidAtLeastCost,
    /// uk: the employee paid less than the employer's cost.
    BelowCost,
    /// fr: discounted by at most 30 %.
    WithinTolerance,
    /// fr: discounted by more than 30 %; the whole discount is taxable.
    AboveTolerance,
    /// es: an ordinary discount (at most 15 %) within the year's 1,000.00.
    Ordinary,
    /// es: an ordinary discount passing the year's 1,000.00.
    AboveOrdinaryLimit,
    /// es: discounted by more than 15 %; the whole discount is taxable.
    AboveOrdinaryRate,
}

/// One line under its rule: the discount split into what the law excludes and what is wages.
/// `qualified` and `taxable` are `None` only under rule `none`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Assessment {
    pub discount: Decimal,
    pub qualified: Option<Decimal>,
    pub taxable: Option<Decimal>,
    /// What the line drew from the year's allowance (de, es); zero elsewhere.
    pub allowance: Decimal,
    pub reason: Reason,
}

impl Assessment {
    /// A line whose `taxable` part is wages and the rest of its discount excluded.
    fn taxed(discount: Decimal, taxable: Decimal, reason: Reason) -> Result<Self, Overflow> {
        let taxable = taxable.max(Decimal::ZERO);
        Ok(Self {
            discount,
            qualified: Some(money::sub(discount, taxable)?.max(Decimal::ZERO)),
            taxable: Some(taxable),
            allowance: Decimal::ZERO,
            reason,
        })
    }
}

impl Assessment {
    /// A line whose `benefit` draws on a yearly allowance of `cap` of which `used` is spent:
    /// what the allowance covers is free, the rest is wages (`within` or `above` says which).
    fn drawing(
        discount: Decimal,
        benefit: Decimal,
        (cap, used): (Decimal, Decimal),
        (within, above): (Reason, Reason),
    ) -> Result<Self, Overflow> {
        let left = money::sub(cap, used)?.max(Decimal::ZERO);
        let free = benefit.min(left);
        let taxable = money::sub(benefit, free)?;
        let reason = if taxable.is_zero() { within } else { above };
        Ok(Self {
            allowance: free,
            ..Self::taxed(discount, taxable, reason)?
        })
    }
}

/// One employee's calendar year under one employer's rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Year {
    rule: Rule,
    currency: CurrencyCode,
    allowance_used: Decimal,
}

impl Year {
    pub fn new(rule: Rule, currency: CurrencyCode) -> Self {
        Self {
            rule,
            currency,
            allowance_used: Decimal::ZERO,
        }
    }

    /// The next line of the year, in the order lines were earned.
    pub fn assess(&mut self, facts: &Facts) -> Result<Assessment, Overflow> {
        self.assess_sharing(facts, Decimal::ZERO)
    }

    /// The next line of the year when the employee's other employers under the same rule have
    /// already drawn `elsewhere` from the yearly allowance: the allowance is the employee's,
    /// per calendar year, whoever employs them (§7).
    pub fn assess_sharing(
        &mut self,
        facts: &Facts,
        elsewhere: Decimal,
    ) -> Result<Assessment, Overflow> {
        let used = money::add(self.allowance_used, elsewhere)?;
        let assessment = match self.rule {
            Rule::None => Assessment {
                discount: facts.discount()?,
                qualified: None,
                taxable: None,
                allowance: Decimal::ZERO,
                reason: Reason::NotComputed,
            },
            Rule::UsIrc132 => us::assess(facts, self.currency)?,
            Rule::DeEstg83 => de::assess(facts, self.currency, used)?,
            Rule::UkBikCost => uk::assess(facts)?,
            Rule::FrUrssaf30 => fr::assess(facts)?,
            Rule::EsLirpfOrdinary => es::assess(facts, used)?,
        };
        self.allowance_used = money::add(self.allowance_used, assessment.allowance)?;
        Ok(assessment)
    }

    /// What this year's lines drew from the allowance (zero for rules without one).
    pub fn drawn(&self) -> Decimal {
        self.allowance_used
    }

    /// What the year's lines drew from a yearly allowance: `None` for rules without one.
    pub fn allowance_used(&self) -> Option<Decimal> {
        matches!(self.rule, Rule::DeEstg83 | Rule::EsLirpfOrdinary).then_some(self.allowance_used)
    }
}

/// `percent` % of `amount`, unrounded (a comparison, not an amount paid).
fn share(amount: Decimal, percent: Decimal) -> Result<Decimal, Overflow> {
    money::div(money::mul(amount, percent)?, Decimal::ONE_HUNDRED)
}

#[cfg(test)]
#[allow(clippy::arithmetic_side_effects)]
pub(crate) mod tests {
    use super::*;
    use proptest::prelude::*;
    use rust_decimal_macros::dec;

    pub fn currency(code: &str) -> CurrencyCode {
        CurrencyCode::parse(code).unwrap_or_else(|| unreachable!())
    }

    /// A goods line of the employer's own, offered to customers, in its line of business.
    pub fn line(list: Decimal, paid: Decimal) -> Facts {
        Facts {
            list_total: list,
            paid_total: paid,
            cost_total: Decimal::ZERO,
            service: false,
            offered_to_customers: true,
            own_product: true,
            seller_gp_percent: None,
            same_line_of_business: true,
            highly_compensated: false,
            tier_discriminatory: false,
        }
    }

    #[test]
    fn rule_none_computes_nothing_and_says_so() {
        let mut year = Year::new(Rule::None, currency("USD"));
        let a = year.assess(&line(dec!(100.00), dec!(70.00))).unwrap();
        assert_eq!(a.discount, dec!(30.00));
        assert_eq!((a.qualified, a.taxable), (None, None));
        assert_eq!(a.reason, Reason::NotComputed);
        assert_eq!(year.allowance_used(), None);
    }

    #[test]
    fn the_allowance_is_the_employees_across_employers() {
        // 1,000 € of the German allowance drawn at one employer leaves 80 € at the next.
        let mut second = Year::new(Rule::DeEstg83, currency("EUR"));
        let a = second
            .assess_sharing(&line(dec!(1000.00), dec!(760.00)), dec!(1000.00))
            .unwrap();
        // Benefit 960 − 760 = 200: 80 free, 120 taxable.
        assert_eq!((a.allowance, a.taxable), (dec!(80.00), Some(dec!(120.00))));
        assert_eq!(second.drawn(), dec!(80.00));
    }

    fn any_facts() -> impl Strategy<Value = Facts> {
        (
            0i64..100_000_000,
            0i64..=100,
            0i64..=150,
            any::<[bool; 6]>(),
            proptest::option::of(0i64..=100),
        )
            .prop_map(|(list, paid_share, cost_share, flags, gp)| {
                let list_total = Decimal::new(list, 2);
                let paid_total = (list_total * Decimal::from(paid_share) / dec!(100)).round_dp(2);
                Facts {
                    list_total,
                    paid_total,
                    cost_total: (list_total * Decimal::from(cost_share) / dec!(100)).round_dp(2),
                    service: flags[0],
                    offered_to_customers: flags[1],
                    own_product: flags[2],
                    seller_gp_percent: gp.map(Decimal::from),
                    same_line_of_business: flags[3],
                    highly_compensated: flags[4],
                    tier_discriminatory: flags[5],
                }
            })
    }

    proptest! {
        /// Under every computing rule the parts are never negative, the excluded part never
        /// exceeds the discount, and (but for the UK's cost rule, where a benefit can pass the
        /// discount) the two parts make the discount exactly.
        #[test]
        fn the_parts_make_the_discount(lines in proptest::collection::vec(any_facts(), 1..20)) {
            for rule in Rule::ALL.into_iter().filter(|r| *r != Rule::None) {
                let mut year = Year::new(rule, currency("EUR"));
                for facts in &lines {
                    let a = year.assess(facts).unwrap();
                    let (q, t) = (a.qualified.unwrap(), a.taxable.unwrap());
                    prop_assert!(q >= Decimal::ZERO && t >= Decimal::ZERO);
                    prop_assert!(q <= a.discount);
                    if rule != Rule::UkBikCost {
                        prop_assert_eq!(q + t, a.discount);
                    }
                }
                if let Some(used) = year.allowance_used() {
                    let cap = if rule == Rule::DeEstg83 { de::ALLOWANCE } else { es::ORDINARY_LIMIT };
                    prop_assert!(used >= Decimal::ZERO && used <= cap);
                }
            }
        }
    }
}
