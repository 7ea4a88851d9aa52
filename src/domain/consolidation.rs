//! Consolidation eliminations (§7), as a group accountant books them: intercompany revenue
//! against cost of sales, receivables against payables with any difference to its own
//! account, and the unrealised profit in goods still held inside the group (IFRS 10 B86(c)),
//! released the month after. Every entry is a debit and a credit of one amount, so debits
//! equal credits by construction.

use rust_decimal::Decimal;
use uuid::Uuid;

use super::codes::CurrencyCode;
use super::{money, Overflow};

/// The consolidation accounts an elimination moves.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Account {
    IntercompanyRevenue,
    CostOfSales,
    IntercompanyReceivables,
    IntercompanyPayables,
    IntercompanyDifferences,
    Inventory,
    RetainedEarnings,
}

impl Account {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::IntercompanyRevenue => "intercompany_revenue",
            Self::CostOfSales => "cost_of_sales",
            Self::IntercompanyReceivables => "intercompany_receivables",
            Self::IntercompanyPayables => "intercompany_payables",
            Self::IntercompanyDifferences => "intercompany_differences",
            Self::Inventory => "inventory",
            Self::RetainedEarnings => "retained_earnings",
        }
    }
}

/// Why an entry is there; its description in the report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    Revenue,
    Balance,
    BalanceDifference,
    UnrealisedProfit,
    ReleasedProfit,
}

impl Reason {
    pub const fn describe(self) -> &'static str {
        match self {
            Self::Revenue => {
                "intercompany sales of the period (net of the seller's credit notes) against cost of sales"
            }
            Self::Balance => "the buyer's open payable against the seller's open receivable",
            Self::BalanceDifference => {
                "the part of the seller's receivable the buyer's payable does not match"
            }
            Self::UnrealisedProfit => {
                "profit in goods the buyer still holds at the period's end (IFRS 10 B86(c))"
            }
            Self::ReleasedProfit => "last period's unrealised profit released",
        }
    }
}

/// What one seller/buyer pair contributes, every amount already in the group currency.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PairFigures {
    pub seller: Uuid,
    pub buyer: Uuid,
    /// Lines shipped in the period plus true-ups, less the seller's credit notes (its negative
    /// receivable adjustments) of the period.
    pub revenue: Decimal,
    /// The seller's open receivable at the period's end.
    pub receivable: Decimal,
    /// The buyer's open payable at the period's end, in the document currency translated.
    pub payable: Decimal,
    /// The profit in the buyer's holdings at this period's end.
    pub unrealised_profit: Decimal,
    /// The same figure of the previous period, released now.
    pub released_profit: Decimal,
}

/// One elimination entry in the group currency; `amount` is never negative.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Elimination {
    pub seller: Uuid,
    pub buyer: Uuid,
    pub debit: Account,
    pub credit: Account,
    pub amount: Decimal,
    pub reason: Reason,
}

/// The elimination entries for `pairs`, in the order given, skipping zero amounts. A negative
/// figure books the same entry the other way round.
pub fn eliminations(pairs: &[PairFigures]) -> Result<Vec<Elimination>, Overflow> {
    use Account::*;
    let mut out = Vec::new();
    for p in pairs {
        let mut push = |debit: Account, credit: Account, amount: Decimal, reason: Reason| {
            if amount.is_zero() {
                return;
            }
            let (debit, credit, amount) = if amount.is_sign_negative() {
                (credit, debit, amount.abs())
            } else {
                (debit, credit, amount)
            };
            out.push(Elimination {
                seller: p.seller,
                buyer: p.buyer,
                debit,
                credit,
                amount,
                reason,
            });
        };
        push(IntercompanyRevenue, CostOfSales, p.revenue, Reason::Revenue);
        // The payable is eliminated at its own amount and the receivable at its own: what the
        // two books disagree about goes to the differences account, leaving no phantom balance.
        push(
            IntercompanyPayables,
            IntercompanyReceivables,
            p.payable,
            Reason::Balance,
        );
        push(
            IntercompanyDifferences,
            IntercompanyReceivables,
            money::sub(p.receivable, p.payable)?,
            Reason::BalanceDifference,
        );
        push(
            CostOfSales,
            Inventory,
            p.unrealised_profit,
            Reason::UnrealisedProfit,
        );
        push(
            RetainedEarnings,
            CostOfSales,
            p.released_profit,
            Reason::ReleasedProfit,
        );
    }
    Ok(out)
}

/// What a pair's lines earned: Σ line_total and Σ quantity × unit_cost over a window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Margin {
    pub revenue: Decimal,
    pub cost: Decimal,
}

/// The profit in `holdings` (at transfer price, in the document currency) at the pair's
/// margin Σ(line_total − quantity × unit_cost) / Σ line_total, rounded once to `currency`.
/// No revenue in the window: no margin, no profit.
pub fn unrealised_profit(
    holdings: Decimal,
    margin: Margin,
    currency: CurrencyCode,
) -> Result<Decimal, Overflow> {
    if margin.revenue.is_zero() {
        return Ok(Decimal::ZERO);
    }
    let profit = money::sub(margin.revenue, margin.cost)?;
    Ok(money::round(
        money::div(money::mul(holdings, profit)?, margin.revenue)?,
        currency,
    ))
}

#[cfg(test)]
#[allow(clippy::arithmetic_side_effects)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rust_decimal_macros::dec;

    fn usd() -> CurrencyCode {
        CurrencyCode::parse("USD").unwrap_or_else(|| unreachable!())
    }

    fn pair(revenue: Decimal, receivable: Decimal, payable: Decimal) -> PairFigures {
        PairFigures {
            seller: Uuid::from_u128(1),
            buyer: Uuid::from_u128(2),
            revenue,
            receivable,
            payable,
            unrealised_profit: Decimal::ZERO,
            released_profit: Decimal::ZERO,
        }
    }

    fn entries(out: &[Elimination]) -> Vec<(&'static str, &'static str, Decimal)> {
        out.iter()
            .map(|e| (e.debit.as_str(), e.credit.as_str(), e.amount))
            .collect()
    }

    #[test]
    fn a_mismatch_goes_to_differences_and_leaves_no_balance() {
        // Receivable 550.00 against payable 525.00 (a credit note booked by the buyer only).
        let out =
            eliminations(&[pair(Decimal::ZERO, dec!(550.00), dec!(525.00))]).unwrap_or_default();
        assert_eq!(
            entries(&out),
            vec![
                (
                    "intercompany_payables",
                    "intercompany_receivables",
                    dec!(525.00)
                ),
                (
                    "intercompany_differences",
                    "intercompany_receivables",
                    dec!(25.00)
                ),
            ]
        );
    }

    #[test]
    fn fifteen_units_still_held_carry_their_whole_margin() {
        // 15 units costing 100.00 sold at 110.00, all still in the buyer's warehouse.
        let margin = Margin {
            revenue: dec!(1650.00),
            cost: dec!(1500.00),
        };
        let profit = unrealised_profit(dec!(1650.00), margin, usd()).unwrap_or_default();
        assert_eq!(profit, dec!(150.00));
        let mut figures = pair(dec!(1650.00), Decimal::ZERO, Decimal::ZERO);
        figures.unrealised_profit = profit;
        let out = eliminations(&[figures]).unwrap_or_default();
        assert_eq!(
            entries(&out),
            vec![
                ("intercompany_revenue", "cost_of_sales", dec!(1650.00)),
                ("cost_of_sales", "inventory", dec!(150.00)),
            ]
        );
        // Next month nothing is held any more and last month's profit is released.
        let mut next = pair(Decimal::ZERO, Decimal::ZERO, Decimal::ZERO);
        next.released_profit = profit;
        assert_eq!(
            entries(&eliminations(&[next]).unwrap_or_default()),
            vec![("retained_earnings", "cost_of_sales", dec!(150.00))]
        );
    }

    #[test]
    fn a_credit_note_larger_than_the_sales_reverses_the_revenue_entry() {
        let out =
            eliminations(&[pair(dec!(-40.00), Decimal::ZERO, Decimal::ZERO)]).unwrap_or_default();
        assert_eq!(
            entries(&out),
            vec![("cost_of_sales", "intercompany_revenue", dec!(40.00))]
        );
    }

    #[test]
    fn no_revenue_in_the_window_means_no_margin() {
        assert_eq!(
            unrealised_profit(dec!(500.00), Margin::default(), usd()),
            Ok(Decimal::ZERO)
        );
        // A third of 100.00 at a 1/3 margin rounds once, at the end.
        let third = Margin {
            revenue: dec!(300.00),
            cost: dec!(200.00),
        };
        assert_eq!(
            unrealised_profit(dec!(100.00), third, usd()),
            Ok(dec!(33.33))
        );
    }

    proptest! {
        #[test]
        fn debits_equal_credits_and_balances_clear(
            figures in proptest::collection::vec(
                (-1_000_000i64..1_000_000, -1_000_000i64..1_000_000, -1_000_000i64..1_000_000,
                 -1_000_000i64..1_000_000, -1_000_000i64..1_000_000), 0..8),
        ) {
            let pairs: Vec<PairFigures> = figures
                .iter()
                .map(|(revenue, receivable, payable, held, released)| PairFigures {
                    seller: Uuid::from_u128(1),
                    buyer: Uuid::from_u128(2),
                    revenue: Decimal::new(*revenue, 2),
                    receivable: Decimal::new(*receivable, 2),
                    payable: Decimal::new(*payable, 2),
                    unrealised_profit: Decimal::new(*held, 2),
                    released_profit: Decimal::new(*released, 2),
                })
                .collect();
            let out = eliminations(&pairs).unwrap_or_default();
            prop_assert!(out.iter().all(|e| e.amount > Decimal::ZERO && e.debit != e.credit));
            // Each account's net movement: receivables are credited by exactly the receivables,
            // payables debited by exactly the payables.
            let net = |account: Account| -> Decimal {
                out.iter().map(|e| {
                    if e.debit == account { e.amount } else if e.credit == account { -e.amount } else { Decimal::ZERO }
                }).sum()
            };
            let receivables: Decimal = pairs.iter().map(|p| p.receivable).sum();
            let payables: Decimal = pairs.iter().map(|p| p.payable).sum();
            prop_assert_eq!(net(Account::IntercompanyReceivables), -receivables);
            prop_assert_eq!(net(Account::IntercompanyPayables), payables);
            let all = [Account::IntercompanyRevenue, Account::CostOfSales,
                Account::IntercompanyReceivables, Account::IntercompanyPayables,
                Account::IntercompanyDifferences, Account::Inventory, Account::RetainedEarnings];
            prop_assert_eq!(all.iter().map(|a| net(*a)).sum::<Decimal>(), Decimal::ZERO);
        }
    }
}
