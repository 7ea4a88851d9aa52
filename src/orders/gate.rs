//! Two writers at a time per product within this process: the placements of one instance that
//! take the same product's stock queue here, in arrival order, instead of all waiting inside
//! PostgreSQL on the product's row lock.
//!
//! In a flash sale every order takes the one stock row. Waiting on that row inside PostgreSQL
//! costs each waiter a backend busy with its statement, a re-check of the row on wake-up
//! (EvalPlanQual), and a wake-up order PostgreSQL does not keep first come, first served; on a
//! small machine the row's holder also competes for the CPU with every waiter. Here the waiters
//! sleep on a fair (FIFO) semaphore before their statement starts, holding no database lock,
//! and PostgreSQL sees two writers per product per instance: one holding the row, one writing
//! its order's other rows meanwhile. The row lock stays the guarantee:
//! several instances still meet there, and writers that are not placements (cancellations,
//! intercompany orders, stock adjustments) never enter the gate, so no one waits on the gate
//! while holding a row lock and no cycle can form through it.
//!
//! Products share a fixed number of stripes (no map that grows with the catalog). Only an order
//! whose products lie in one stripe (a single product, as in a flash sale) queues: one holding
//! a stripe while it waits for another would make every writer of the first wait behind the
//! second's queue. An order of several products goes straight to the database, whose row
//! locks it takes in id order. A wait is bounded like a lock wait in the database: past it the
//! order is refused with 503, so a long queue never holds the pool's connections for ever.

use std::sync::LazyLock;

use std::time::Duration;

use tokio::sync::{Semaphore, SemaphorePermit};

use crate::error::ApiError;

use crate::ids::ProductId;

/// Stripes: enough that two products rarely share one among the writes in flight.
const STRIPES: u16 = 256;

/// Writers let through per stripe at once: the second does its inserts while the first holds
/// the row, so the row is never idle waiting for a writer to start.
const WRITERS: usize = 2;

/// The gate of this process.
pub static GATE: LazyLock<Gate> = LazyLock::new(Gate::new);

pub struct Gate {
    stripes: Vec<Semaphore>,
}

impl Gate {
    fn new() -> Self {
        Self {
            stripes: (0..STRIPES).map(|_| Semaphore::new(WRITERS)).collect(),
        }
    }

    /// Waits (at most `patience`) for a place among the writers of `products`' stripe, held
    /// until the returned permit drops; no wait, and no permit, when they lie in more than one
    /// stripe.
    pub async fn enter(
        &self,
        products: impl Iterator<Item = ProductId>,
        patience: Duration,
    ) -> Result<Option<SemaphorePermit<'_>>, ApiError> {
        let mut indices: Vec<usize> = products.map(stripe_of).collect();
        indices.sort_unstable();
        indices.dedup();
        let [index] = indices.as_slice() else {
            return Ok(None);
        };
        let Some(stripe) = self.stripes.get(*index) else {
            return Ok(None);
        };
        match tokio::time::timeout(patience, stripe.acquire()).await {
            Ok(Ok(permit)) => Ok(Some(permit)),
            // The semaphore is never closed.
            Ok(Err(_)) => Ok(None),
            Err(_) => Err(ApiError::Unavailable(
                "too many orders of one product are waiting; retry".into(),
            )),
        }
    }
}

/// The stripe of a product: the low bits of its (random) id.
fn stripe_of(product: ProductId) -> usize {
    usize::try_from(product.uuid().as_u128() % u128::from(STRIPES)).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    fn product(low: u128) -> ProductId {
        ProductId::from(Uuid::from_u128((7 << 64) | low))
    }

    const BRIEF: Duration = Duration::from_millis(50);

    #[tokio::test]
    async fn a_product_lets_two_writers_through_and_the_third_waits_its_turn() {
        let gate = Gate::new();
        let hot = product(5);
        let first = gate.enter([hot].into_iter(), BRIEF).await;
        let second = gate.enter([hot].into_iter(), BRIEF).await;
        assert!(matches!((&first, &second), (Ok(Some(_)), Ok(Some(_)))));
        let third = gate.enter([hot].into_iter(), BRIEF).await;
        assert!(
            matches!(third, Err(ApiError::Unavailable(_))),
            "a third writer of one product waits, and past its patience is refused"
        );
        // Another product (another stripe) is not held up.
        let other = gate.enter([product(6)].into_iter(), BRIEF).await;
        assert!(matches!(other, Ok(Some(_))));
        drop(first);
        let third = gate.enter([hot].into_iter(), BRIEF).await;
        assert!(
            matches!(third, Ok(Some(_))),
            "a writer leaving lets the next one in"
        );
    }

    #[tokio::test]
    async fn an_order_of_products_in_several_stripes_never_queues() {
        let gate = Gate::new();
        let (hot, other) = (product(5), product(300));
        let _first = gate.enter([hot].into_iter(), BRIEF).await;
        let _second = gate.enter([hot].into_iter(), BRIEF).await;
        // The hot stripe is full; an order of it and another product goes straight on.
        let both = gate.enter([hot, other].into_iter(), BRIEF).await;
        assert!(matches!(both, Ok(None)));
        // Products 3 and 259 share stripe 3: one stripe, so the order queues there.
        let shared = gate
            .enter([product(3), product(259)].into_iter(), BRIEF)
            .await;
        assert!(matches!(shared, Ok(Some(_))));
    }
}
