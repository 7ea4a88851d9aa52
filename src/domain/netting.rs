//! Multilateral netting: the fewest transfers that clear a set of net positions. With up to
//! [`EXACT_LIMIT`] companies holding a non-zero position the answer is the exact minimum: n
//! minus the largest number of disjoint subgroups whose positions sum to zero (each subgroup
//! of k companies settles among itself in k − 1 transfers, and no plan does better). Beyond
//! that, each transfer pays the largest remaining debtor's debt towards the largest remaining
//! creditor: at most n − 1 transfers, flagged as not exact. The amounts always add up exactly.

use rust_decimal::Decimal;
use uuid::Uuid;

use super::kinds::LedgerSide;

/// One payment of the netting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transfer {
    pub from: Uuid,
    pub to: Uuid,
    pub amount: Decimal,
}

/// How many companies with a non-zero position the exact search covers (2^12 subsets).
pub const EXACT_LIMIT: usize = 12;

/// A netting plan: its transfers, and whether their number is the proven minimum.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub transfers: Vec<Transfer>,
    pub exact: bool,
}

/// The plan that clears `positions` (positive: owed money; negative: owes money) with the
/// fewest transfers. The positions must sum to zero (they do when each document adds to one
/// side what it takes from the other). Deterministic: ties go by id.
pub fn plan(positions: &[(Uuid, Decimal)]) -> Plan {
    let mut open: Vec<(Uuid, Decimal)> = positions
        .iter()
        .filter(|(_, amount)| !amount.is_zero())
        .copied()
        .collect();
    open.sort_by_key(|(id, _)| *id);
    if open.len() > EXACT_LIMIT {
        return Plan {
            transfers: transfers(&open),
            exact: false,
        };
    }
    let transfers = zero_sum_groups(&open)
        .iter()
        .flat_map(|group| transfers(group))
        .collect();
    Plan {
        transfers,
        exact: true,
    }
}

/// The largest number of disjoint zero-sum subgroups of `open` (at most [`EXACT_LIMIT`]
/// entries), as the subgroups themselves. `best[mask]` is the most zero-sum groups that the
/// members of `mask` can be split into, taking members away one at a time: a mask whose sum
/// is zero closes a group. Whatever does not sum to zero stays in the last group.
fn zero_sum_groups(open: &[(Uuid, Decimal)]) -> Vec<Vec<(Uuid, Decimal)>> {
    let n = open.len();
    let full: usize = (1usize << n).wrapping_sub(1);
    let mut sum = vec![Decimal::ZERO; full.saturating_add(1)];
    let mut best = vec![0u32; full.saturating_add(1)];
    for mask in 1..=full {
        let low = usize::try_from(mask.trailing_zeros()).unwrap_or(usize::MAX);
        let rest = mask & mask.wrapping_sub(1);
        let (Some(previous), Some((_, amount))) = (sum.get(rest).copied(), open.get(low)) else {
            continue;
        };
        let total = previous.checked_add(*amount).unwrap_or(Decimal::MAX);
        let closes = u32::from(total.is_zero());
        let most = (0..n)
            .filter(|i| mask & (1 << i) != 0)
            .filter_map(|i| best.get(mask & !(1 << i)).copied())
            .max()
            .unwrap_or(0);
        if let (Some(s), Some(b)) = (sum.get_mut(mask), best.get_mut(mask)) {
            *s = total;
            *b = most.saturating_add(closes);
        }
    }
    // Walk back from the full set, peeling one member at a time along a best path; each time
    // the remaining set sums to zero a group ends there.
    let mut groups = Vec::new();
    let mut mask = full;
    let mut group_end = full;
    while mask != 0 {
        let here = best.get(mask).copied().unwrap_or(0);
        let closes = u32::from(sum.get(mask).is_some_and(|s| s.is_zero()));
        if closes == 1 && mask != group_end {
            groups.push(group_end & !mask);
            group_end = mask;
        }
        let Some(next) = (0..n)
            .filter(|i| mask & (1 << i) != 0)
            .map(|i| mask & !(1 << i))
            .find(|m| best.get(*m).copied().unwrap_or(0).saturating_add(closes) == here)
        else {
            break;
        };
        mask = next;
    }
    groups.push(group_end);
    groups
        .into_iter()
        .filter(|g| *g != 0)
        .map(|g| {
            (0..n)
                .filter(|i| g & (1 << i) != 0)
                .filter_map(|i| open.get(i).copied())
                .collect()
        })
        .collect()
}

/// The greedy transfers for `positions`: largest debtor to largest creditor until clear.
fn transfers(positions: &[(Uuid, Decimal)]) -> Vec<Transfer> {
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

/// Which one-sided adjustments of a pair counter each other: each of the seller's (in booking
/// order) with the first not yet matched of the buyer's carrying the same document amount.
/// A countered pair is a two-sided document, settled like any other; the rest stay one-sided.
pub fn countered(seller: &[Decimal], buyer: &[Decimal]) -> Vec<(usize, usize)> {
    let mut taken = vec![false; buyer.len()];
    let mut pairs = Vec::new();
    for (i, amount) in seller.iter().enumerate() {
        let found = buyer
            .iter()
            .enumerate()
            .position(|(j, other)| other == amount && !taken.get(j).copied().unwrap_or(true));
        if let Some(j) = found {
            if let Some(slot) = taken.get_mut(j) {
                *slot = true;
            }
            pairs.push((i, j));
        }
    }
    pairs
}

/// The positions among one pair's adjustments, given as (side, document amount) in booking
/// order, that no adjustment of the other side counters (see [`countered`]): what stays
/// one-sided, in booking order.
pub fn uncountered(adjustments: &[(LedgerSide, Decimal)]) -> Vec<usize> {
    let of_side = |side: LedgerSide| -> (Vec<usize>, Vec<Decimal>) {
        adjustments
            .iter()
            .enumerate()
            .filter(|(_, (s, _))| *s == side)
            .map(|(at, (_, amount))| (at, *amount))
            .unzip()
    };
    let (seller_at, seller) = of_side(LedgerSide::Seller);
    let (buyer_at, buyer) = of_side(LedgerSide::Buyer);
    let matched: std::collections::HashSet<usize> = countered(&seller, &buyer)
        .into_iter()
        .flat_map(|(i, j)| [seller_at.get(i).copied(), buyer_at.get(j).copied()])
        .flatten()
        .collect();
    (0..adjustments.len())
        .filter(|at| !matched.contains(at))
        .collect()
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

    #[test]
    fn adjustments_counter_each_other_by_amount_in_booking_order() {
        let seller = [dec!(-25.00), dec!(-10.00), dec!(-25.00)];
        let buyer = [dec!(-10.00), dec!(-25.00), dec!(-7.00)];
        assert_eq!(countered(&seller, &buyer), vec![(0, 1), (1, 0)]);
        assert!(countered(&seller, &[]).is_empty());
    }

    #[test]
    fn the_exact_plan_finds_the_zero_sum_subgroups_greedy_misses() {
        // +4, +3, +3, −6, −4: {+4, −4} and {+3, +3, −6} settle in 1 + 2 transfers; the
        // largest-first rule needs 4.
        let positions = [
            (id(1), dec!(4)),
            (id(2), dec!(3)),
            (id(3), dec!(3)),
            (id(4), dec!(-6)),
            (id(5), dec!(-4)),
        ];
        assert_eq!(transfers(&positions).len(), 4);
        let netted = plan(&positions);
        assert!(netted.exact);
        assert_eq!(netted.transfers.len(), 3);
        assert!(netted.transfers.contains(&Transfer {
            from: id(5),
            to: id(1),
            amount: dec!(4)
        }));
    }

    #[test]
    fn more_than_twelve_companies_fall_back_to_greedy_and_say_so() {
        let mut positions: Vec<(Uuid, Decimal)> = (1..=13).map(|n| (id(n), dec!(1))).collect();
        positions.push((id(99), dec!(-13)));
        let netted = plan(&positions);
        assert!(!netted.exact);
        assert_eq!(netted.transfers.len(), 13);
    }

    /// The most disjoint zero-sum subgroups, by trying every subgroup of the first member.
    fn most_groups(members: &[Decimal]) -> usize {
        let Some((first, rest)) = members.split_first() else {
            return 0;
        };
        let mut best = 0;
        for pick in 0u32..(1 << rest.len()) {
            let chosen: Decimal = *first
                + rest
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| pick & (1 << i) != 0)
                    .map(|(_, a)| *a)
                    .sum::<Decimal>();
            if chosen.is_zero() {
                let left: Vec<Decimal> = rest
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| pick & (1 << i) == 0)
                    .map(|(_, a)| *a)
                    .collect();
                best = best.max(1 + most_groups(&left));
            }
        }
        best
    }

    proptest! {
        #[test]
        fn transfers_clear_every_position_in_at_most_n_minus_one(
            owed in proptest::collection::vec(prop_oneof![-5i64..5, -1_000_000i64..1_000_000], 1..12),
        ) {
            // Make the positions sum to zero with one balancing company.
            let mut positions: Vec<(Uuid, Decimal)> = owed
                .iter()
                .enumerate()
                .map(|(n, cents)| (id(u128::try_from(n).unwrap_or(0) + 1), Decimal::new(*cents, 2)))
                .collect();
            let sum: Decimal = positions.iter().map(|(_, a)| *a).sum();
            positions.push((id(1000), -sum));
            let netted = plan(&positions);
            let paid = netted.transfers;
            let nonzero: Vec<Decimal> = positions.iter().map(|(_, a)| *a).filter(|a| !a.is_zero()).collect();
            prop_assert!(paid.len() <= nonzero.len().saturating_sub(1));
            prop_assert!(paid.len() <= transfers(&positions).len());
            if nonzero.len() <= 9 {
                prop_assert!(netted.exact);
                prop_assert_eq!(paid.len(), nonzero.len() - most_groups(&nonzero));
            }
            for (company, position) in &positions {
                let received: Decimal = paid.iter().filter(|t| t.to == *company).map(|t| t.amount).sum();
                let sent: Decimal = paid.iter().filter(|t| t.from == *company).map(|t| t.amount).sum();
                prop_assert_eq!(received - sent, *position);
            }
            prop_assert!(paid.iter().all(|t| t.amount > Decimal::ZERO));
        }
    }

    #[test]
    fn a_countered_pair_leaves_only_the_unanswered_adjustments() {
        use LedgerSide::{Buyer, Seller};
        // The seller's 10 is countered by the buyer's first 10; the buyer's second 10 and the
        // seller's 7 stay one-sided, in booking order.
        let adjustments = [
            (Buyer, dec!(10)),
            (Seller, dec!(7)),
            (Seller, dec!(10)),
            (Buyer, dec!(10)),
            (Buyer, dec!(-3)),
        ];
        assert_eq!(uncountered(&adjustments), vec![1, 3, 4]);
        assert_eq!(uncountered(&[]), Vec::<usize>::new());
    }
}
