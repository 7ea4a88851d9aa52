//! Order lifecycles as transition tables, one shape for both order kinds: an action applied to
//! a status gives the next status or a refusal. Every (action, status) pair is written out, with
//! no catch-all, so that a new status or action does not compile until each pair is decided.

use std::fmt;

use super::intercompany::Status as IcStatus;
use super::kinds::OrderStatus;

/// An action on an order, defined by its transition table.
pub trait Transition: Copy {
    type Status: Copy + fmt::Display;
    /// How a refusal names the order: "an order", "an intercompany order".
    const ORDER: &'static str;

    /// The participle a refusal uses: "cancelled".
    fn verb(self) -> &'static str;

    /// The status an order moves to from `from`, or `None` where the table refuses.
    fn apply(self, from: Self::Status) -> Option<Self::Status>;

    /// The next status from `from`, or the refusal that explains why there is none.
    fn from(self, from: Self::Status) -> Result<Self::Status, Refused> {
        self.apply(from).ok_or_else(|| Refused {
            order: Self::ORDER,
            status: from.to_string(),
            verb: self.verb(),
        })
    }
}

/// An action the order's status does not allow (answered as 409 `invalid_state`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{order} that is {status} cannot be {verb}")]
pub struct Refused {
    order: &'static str,
    status: String,
    verb: &'static str,
}

/// What can happen to an employee order: `placed` → `fulfilled` or `cancelled`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrderAction {
    Cancel,
    Fulfil,
}

impl OrderAction {
    pub const ALL: [Self; 2] = [Self::Cancel, Self::Fulfil];
}

impl Transition for OrderAction {
    type Status = OrderStatus;
    const ORDER: &'static str = "an order";

    fn verb(self) -> &'static str {
        match self {
            Self::Cancel => "cancelled",
            Self::Fulfil => "fulfilled",
        }
    }

    fn apply(self, from: OrderStatus) -> Option<OrderStatus> {
        use OrderStatus::*;
        match (self, from) {
            (Self::Cancel, Placed) => Some(Cancelled),
            (Self::Cancel, Fulfilled | Cancelled) => None,
            (Self::Fulfil, Placed) => Some(Fulfilled),
            (Self::Fulfil, Fulfilled | Cancelled) => None,
        }
    }
}

/// What can happen to an intercompany order: the seller accepts or rejects a request, the
/// buyer may cancel it while it is one, the seller ships what it accepted, finance settles
/// what was shipped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IcAction {
    Accept,
    Reject,
    Cancel,
    Ship,
    Settle,
}

impl IcAction {
    pub const ALL: [Self; 5] = [
        Self::Accept,
        Self::Reject,
        Self::Cancel,
        Self::Ship,
        Self::Settle,
    ];
}

impl Transition for IcAction {
    type Status = IcStatus;
    const ORDER: &'static str = "an intercompany order";

    fn verb(self) -> &'static str {
        match self {
            Self::Accept => "accepted",
            Self::Reject => "rejected",
            Self::Cancel => "cancelled",
            Self::Ship => "shipped",
            Self::Settle => "settled",
        }
    }

    fn apply(self, from: IcStatus) -> Option<IcStatus> {
        use IcStatus::*;
        match (self, from) {
            (Self::Accept, Requested) => Some(Accepted),
            (Self::Accept, Accepted | Rejected | Shipped | Settled | Cancelled) => None,
            (Self::Reject, Requested) => Some(Rejected),
            (Self::Reject, Accepted | Rejected | Shipped | Settled | Cancelled) => None,
            (Self::Cancel, Requested) => Some(Cancelled),
            (Self::Cancel, Accepted | Rejected | Shipped | Settled | Cancelled) => None,
            (Self::Ship, Accepted) => Some(Shipped),
            (Self::Ship, Requested | Rejected | Shipped | Settled | Cancelled) => None,
            (Self::Settle, Shipped) => Some(Settled),
            (Self::Settle, Requested | Accepted | Rejected | Settled | Cancelled) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Checks `T`'s table against the pairs that are allowed, every other pair refused with a
    /// message that names the status and the action.
    fn table_is<T: Transition + PartialEq + fmt::Debug>(
        actions: &[T],
        statuses: &[T::Status],
        allowed: &[(T, T::Status, T::Status)],
    ) where
        T::Status: PartialEq + fmt::Debug,
    {
        for &action in actions {
            for &from in statuses {
                let expected = allowed
                    .iter()
                    .find(|(a, f, _)| *a == action && *f == from)
                    .map(|(_, _, to)| *to);
                assert_eq!(action.apply(from), expected, "{action:?} from {from:?}");
                match action.from(from) {
                    Ok(to) => assert_eq!(Some(to), expected),
                    Err(refused) => {
                        assert_eq!(expected, None);
                        let text = refused.to_string();
                        assert!(text.starts_with(T::ORDER), "{text}");
                        assert!(text.contains(&format!("is {from} ")), "{text}");
                        assert!(text.ends_with(action.verb()), "{text}");
                    }
                }
            }
        }
    }

    #[test]
    fn an_employee_order_moves_only_from_placed() {
        use OrderStatus::*;
        table_is(
            &OrderAction::ALL,
            &OrderStatus::ALL,
            &[
                (OrderAction::Cancel, Placed, Cancelled),
                (OrderAction::Fulfil, Placed, Fulfilled),
            ],
        );
        assert_eq!(
            OrderAction::Cancel
                .from(Fulfilled)
                .map_err(|r| r.to_string()),
            Err("an order that is fulfilled cannot be cancelled".to_owned())
        );
    }

    #[test]
    fn an_intercompany_order_follows_its_table() {
        use IcStatus::*;
        table_is(
            &IcAction::ALL,
            &IcStatus::ALL,
            &[
                (IcAction::Accept, Requested, Accepted),
                (IcAction::Reject, Requested, Rejected),
                (IcAction::Cancel, Requested, Cancelled),
                (IcAction::Ship, Accepted, Shipped),
                (IcAction::Settle, Shipped, Settled),
            ],
        );
        assert_eq!(
            IcAction::Ship.from(Requested).map_err(|r| r.to_string()),
            Err("an intercompany order that is requested cannot be shipped".to_owned())
        );
    }
}
