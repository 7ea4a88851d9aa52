//! One writer at a time per product within this process: the placements of one instance that
//! take the same product's stock queue here, in arrival order, instead of all waiting inside
//! PostgreSQL on the product's row lock.
//!
//! In a flash sale every order takes the one stock row. Waiting on that row inside PostgreSQL
//! costs each waiter a backend busy with its statement, a re-check of the row on wake-up
//! (EvalPlanQual), and a wake-up order PostgreSQL does not keep first come, first served; on a
//! small machine the row's holder also competes for the CPU with every waiter. Here the waiters
//! sleep on a fair (FIFO) async mutex before their statement starts, holding no database lock,
//! and PostgreSQL sees one writer per product per instance. The row lock stays the guarantee:
//! several instances still meet there, and writers that are not placements (cancellations,
//! intercompany orders, stock adjustments) never enter the gate, so no one waits on the gate
//! while holding a row lock and no cycle can form through it.
//!
//! Products share a fixed number of stripes (no map that grows with the catalog); an order's
//! stripes are taken in ascending order, so two orders never wait on each other in a cycle.

use std::sync::LazyLock;

use tokio::sync::{Semaphore, SemaphorePermit};

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

    /// Waits for the stripes of `products` (in ascending stripe order) and holds them until
    /// the returned guards drop.
    pub async fn enter(
        &self,
        products: impl Iterator<Item = ProductId>,
    ) -> Vec<SemaphorePermit<'_>> {
        let mut indices: Vec<usize> = products.map(stripe_of).collect();
        indices.sort_unstable();
        indices.dedup();
        let mut held = Vec::with_capacity(indices.len());
        for index in indices {
            if let Some(Ok(permit)) = match self.stripes.get(index) {
                Some(stripe) => Some(stripe.acquire().await),
                None => None,
            } {
                held.push(permit);
            }
        }
        held
    }
}

/// The stripe of a product: the low bits of its (random) id.
fn stripe_of(product: ProductId) -> usize {
    usize::try_from(product.uuid().as_u128() % u128::from(STRIPES)).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;
    use uuid::Uuid;

    fn product(low: u128) -> ProductId {
        ProductId::from(Uuid::from_u128((7 << 64) | low))
    }

    #[tokio::test]
    async fn a_product_lets_two_writers_through_and_the_third_waits_its_turn() {
        let gate = Gate::new();
        let hot = product(5);
        let first = gate.enter([hot].into_iter()).await;
        let second = gate.enter([hot].into_iter()).await;
        assert_eq!((first.len(), second.len()), (1, 1));
        let third = tokio::time::timeout(Duration::from_millis(50), gate.enter([hot].into_iter()));
        assert!(
            third.await.is_err(),
            "a third writer of one product must wait"
        );
        // Another product (another stripe) is not held up.
        let other = tokio::time::timeout(
            Duration::from_millis(50),
            gate.enter([product(6)].into_iter()),
        );
        assert_eq!(other.await.map(|held| held.len()).ok(), Some(1));
        drop(first);
        let third = tokio::time::timeout(Duration::from_millis(50), gate.enter([hot].into_iter()));
        assert!(third.await.is_ok(), "a writer leaving lets the next one in");
    }

    #[test]
    fn an_order_takes_each_of_its_stripes_once() {
        // Products 3 and 259 share stripe 3: one permit for both.
        let ids = [product(300), product(3), product(259), product(3)];
        let mut stripes: Vec<usize> = ids.iter().copied().map(stripe_of).collect();
        stripes.sort_unstable();
        stripes.dedup();
        assert_eq!(stripes, vec![3, 44]);
        let gate = Gate::new();
        let held = tokio::runtime::Builder::new_current_thread()
            .build()
            .map(|runtime| runtime.block_on(async { gate.enter(ids.into_iter()).await.len() }));
        assert_eq!(held.ok(), Some(2));
    }
}
