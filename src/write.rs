//! The write pattern the handlers share, in one place: one transaction runs the write, which
//! hands back its result and the audit entry; the entry is recorded in that same transaction;
//! a unique-key conflict is explained by the caller's field; after the commit, followers are
//! told what changed.

use std::future::Future;

use diesel_async::{AsyncConnection as _, AsyncPgConnection};
use uuid::Uuid;

use crate::audit::{self, Actor, Change};
use crate::changes::{Changed, Changes};
use crate::error::ApiError;

/// An async write over a connection whose future is `Send` (what the pool's transactions
/// need); any `async move |conn| { … }` closure is one.
pub trait WriteFn<'c, R>:
    AsyncFnOnce(&'c mut AsyncPgConnection) -> R
    + FnOnce(&'c mut AsyncPgConnection) -> <Self as WriteFn<'c, R>>::Fut
{
    type Fut: Future<Output = R> + Send;
}

impl<'c, F, Fut, R> WriteFn<'c, R> for F
where
    F: AsyncFnOnce(&'c mut AsyncPgConnection) -> R + FnOnce(&'c mut AsyncPgConnection) -> Fut,
    Fut: Future<Output = R> + Send,
{
    type Fut = Fut;
}

/// An audited write being set up: `by(actor, group)`, optionally `.conflict(field, detail)`
/// and `.publishes(changed)`, then `.run(conn, changes, write)`.
pub struct Audited<'a, A: ?Sized> {
    actor: &'a A,
    group: Uuid,
    conflict: Option<(&'static str, &'static str)>,
    changed: Option<Changed<'a>>,
}

/// A write by `actor` in `group`.
pub fn by<A: Actor + Sync + ?Sized>(actor: &A, group: Uuid) -> Audited<'_, A> {
    Audited {
        actor,
        group,
        conflict: None,
        changed: None,
    }
}

impl<'a, A: Actor + Sync + ?Sized> Audited<'a, A> {
    /// A unique-key conflict is the client's: it names `field` and says `detail`.
    pub fn conflict(mut self, field: &'static str, detail: &'static str) -> Self {
        self.conflict = Some((field, detail));
        self
    }

    /// After the commit, followers are told `changed`.
    pub fn publishes(mut self, changed: Changed<'a>) -> Self {
        self.changed = Some(changed);
        self
    }

    /// Runs `write` in one transaction on `conn`, recording the audit entry it returns.
    pub async fn run<T, F>(
        self,
        conn: &mut AsyncPgConnection,
        changes: &Changes,
        write: F,
    ) -> Result<T, ApiError>
    where
        T: Send,
        F: for<'c> WriteFn<'c, Result<(T, Change<'static>), ApiError>> + Send,
    {
        let (group, actor) = (self.group, self.actor);
        let result = conn
            .transaction::<_, ApiError, _>(async move |conn| {
                let (value, change) = write(conn).await?;
                audit::record(conn, group, Some(actor), change).await?;
                Ok(value)
            })
            .await;
        let value = match (result, self.conflict) {
            (Err(error), Some((field, detail))) => {
                return Err(error.explain_conflict(field, detail))
            }
            (result, _) => result?,
        };
        if let Some(changed) = self.changed {
            changes.publish(changed);
        }
        Ok(value)
    }
}
