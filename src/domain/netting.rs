//! Multilateral netting: the fewest transfers that clear a set of net positions. Each transfer
//! pays the largest remaining debtor's debt towards the largest remaining creditor, so every
//! transfer clears at least one company: at most n − 1 transfers for n companies with a
//! non-zero position, and they add up exactly.

use rust_decimal::Decimal;
use uuid::Uuid;

/// One payment of the netting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transfer {
    pub from: Uuid,
    pub to: Uuid,
    pub amount: Decimal,
}

/// Transfers that clear `positions` (positive: owed money; negative: owes money). The
/// positions must sum to zero (they do when each document adds to one side what it takes from
/// the other); whatever they do not clear is left as it was. Deterministic: ties go by id.
pub fn transfers(positions: &[(Uuid, Decimal)]) -> Vec<Transfer> {
    let mut creditors: Vec<(Uuid, Decimal)> = positions
        .iter()
        .filter(|(_, amount)| *amount > Decimal::ZERO)
        .copied()
        .collect();
    let mut debtors: Vec<(Uuid, Decimal)> = positions
        .iter()
        .filter(|(_, amount)| *amount < Decimal::ZERO)
        .map(|(id, amount)| (*id, amount.abs()))
        .collect();
    let mut out = Vec::new();
    loop {
        // Largest first; ties by id so the result never depends on the input order.
        creditors.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        debtors.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        let (Some(creditor), Some(debtor)) = (creditors.first_mut(), debtors.first_mut()) else {
            break;
        };
        let amount = creditor.1.min(debtor.1);
        out.push(Transfer {
            from: debtor.0,
            to: creditor.0,
            amount,
        });
        // `amount` is at most either side, so these subtractions are exact (never saturate).
        creditor.1 = creditor.1.saturating_sub(amount);
        debtor.1 = debtor.1.saturating_sub(amount);
        creditors.retain(|(_, left)| !left.is_zero());
        debtors.retain(|(_, left)| !left.is_zero());
    }
    out
}

#[cfg(test)]
#[allow(clippy::arithmetic_side_effects)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rust_decimal_macros::dec;

    fn id(n: u128) -> Uuid {
        Uuid::from_u128(n)
    }

    #[test]
    fn four_companies_settle_in_at_most_three_transfers() {
        // A is owed 100, B 50; C owes 120, D 30.
        let positions = [
            (id(1), dec!(100.00)),
            (id(2), dec!(50.00)),
            (id(3), dec!(-120.00)),
            (id(4), dec!(-30.00)),
        ];
        let paid = transfers(&positions);
        assert_eq!(
            paid,
            vec![
                Transfer {
                    from: id(3),
                    to: id(1),
                    amount: dec!(100.00)
                },
                Transfer {
                    from: id(4),
                    to: id(2),
                    amount: dec!(30.00)
                },
                Transfer {
                    from: id(3),
                    to: id(2),
                    amount: dec!(20.00)
                },
            ]
        );
    }

    #[test]
    fn nothing_to_net_means_no_transfer() {
        assert!(transfers(&[]).is_empty());
        assert!(transfers(&[(id(1), Decimal::ZERO)]).is_empty());
    }

    proptest! {
        #[test]
        fn transfers_clear_every_position_in_at_most_n_minus_one(
            owed in proptest::collection::vec(-1_000_000i64..1_000_000, 1..12),
        ) {
            // Make the positions sum to zero with one balancing company.
            let mut positions: Vec<(Uuid, Decimal)> = owed
                .iter()
                .enumerate()
                .map(|(n, cents)| (id(u128::try_from(n).unwrap_or(0) + 1), Decimal::new(*cents, 2)))
                .collect();
            let sum: Decimal = positions.iter().map(|(_, a)| *a).sum();
            positions.push((id(1000), -sum));
            let paid = transfers(&positions);
            let nonzero = positions.iter().filter(|(_, a)| !a.is_zero()).count();
            prop_assert!(paid.len() <= nonzero.saturating_sub(1));
            for (company, position) in &positions {
                let received: Decimal = paid.iter().filter(|t| t.to == *company).map(|t| t.amount).sum();
                let sent: Decimal = paid.iter().filter(|t| t.from == *company).map(|t| t.amount).sum();
                prop_assert_eq!(received - sent, *position);
            }
            prop_assert!(paid.iter().all(|t| t.amount > Decimal::ZERO));
        }
    }
}
