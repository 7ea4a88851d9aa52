//! What changed, told through one path. Writers publish a [`Changed`] after their transaction
//! commits; followers that keep derived copies (the catalog's listing cache) react. Writers
//! therefore never name the cache, and a new follower needs no writer to change.

use std::sync::Arc;

/// A committed change that copies of the data may have to follow.
#[derive(Debug, Clone, Copy)]
pub enum Changed<'a> {
    /// Catalog definitions, prices or who sees what (tiers, categories, products, companies,
    /// employees).
    Definitions,
    /// Stock of `products` moved; `buyer` also bought or gave back purchase-limited quantity.
    Stock {
        products: &'a [crate::ids::ProductId],
        buyer: Option<crate::ids::EmployeeId>,
    },
}

/// Something that keeps a copy and follows changes.
pub trait Follower: Send + Sync {
    fn changed(&self, change: Changed<'_>);
}

/// The followers of this process, fixed at start-up.
#[derive(Clone, Default)]
pub struct Changes {
    followers: Arc<Vec<Arc<dyn Follower>>>,
}

impl Changes {
    pub fn new(followers: Vec<Arc<dyn Follower>>) -> Self {
        Self {
            followers: Arc::new(followers),
        }
    }

    /// Tells every follower; call after the change committed.
    pub fn publish(&self, change: Changed<'_>) {
        for follower in self.followers.iter() {
            follower.changed(change);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    #[derive(Default)]
    struct Seen(Mutex<Vec<String>>);

    impl Follower for Seen {
        fn changed(&self, change: Changed<'_>) {
            if let Ok(mut seen) = self.0.lock() {
                seen.push(format!("{change:?}"));
            }
        }
    }

    #[test]
    fn every_follower_hears_every_change() {
        let (a, b) = (Arc::new(Seen::default()), Arc::new(Seen::default()));
        let changes = Changes::new(vec![a.clone(), b.clone()]);
        changes.publish(Changed::Definitions);
        changes.publish(Changed::Stock {
            products: &[crate::ids::ProductId::from(uuid::Uuid::nil())],
            buyer: None,
        });
        for seen in [a, b] {
            assert_eq!(seen.0.lock().map(|s| s.len()).unwrap_or(0), 2);
        }
    }
}
