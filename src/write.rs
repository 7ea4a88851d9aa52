//! The write pattern the handlers share, in one place: one transaction runs the write, which
//! hands back its result and the audit entry; the entry is recorded in that same transaction;
//! a unique-key conflict is explained by the caller's field; after the commit, followers are
//! told what changed. A write that must hold its own transaction (a row lock or an idempotency
//! claim taken first) records its entries with `Audited::record` inside it. This module is the
//! only writer of the audit log (`orders::placement` writes its entry with [`record_change!`]).

use std::future::Future;

use diesel::sql_types::{Jsonb, Nullable, Text, Uuid as SqlUuid};
use diesel_async::{AsyncConnection as _, AsyncPgConnection, RunQueryDsl};

use crate::audit::{Actor, Change};
use crate::changes::{Changed, Changes};
use crate::db::statement::statement;
use crate::error::ApiError;
use crate::ids::GroupId;

/// The head of the one statement that writes an audit entry: `INSERT` into the log with the
/// columns (group, actor, action, entity type, entity id, before, after, request id), in that
/// order. [`Audited::record`] uses it; a write made in one statement of its own
/// (`orders::placement`) records its entry with this head, followed by its own `SELECT`.
#[macro_export]
macro_rules! record_change {
    () => {
        "INSERT INTO audit_events (group_id, actor_id, action, entity_type, entity_id, before, \
         after, request_id)"
    };
}

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
    actor: Option<&'a A>,
    group: GroupId,
    conflict: Option<(&'static str, &'static str)>,
    changed: Option<Changed<'a>>,
}

/// A write by `actor` in `group`.
pub fn by<A: Actor + Sync + ?Sized>(actor: &A, group: GroupId) -> Audited<'_, A> {
    by_actor(Some(actor), group)
}

/// A write in `group` by `actor`, or by the system itself when `None` (bootstrap, the demo
/// seed, a scheduled change).
pub fn by_actor<A: Actor + Sync + ?Sized>(actor: Option<&A>, group: GroupId) -> Audited<'_, A> {
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
        let this = &self;
        let result = conn
            .transaction::<_, ApiError, _>(async move |conn| {
                let (value, change) = write(conn).await?;
                this.record(conn, change).await?;
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

impl<A: Actor + Sync + ?Sized> Audited<'_, A> {
    /// Records `change` on `conn`, inside the transaction that makes the change (the caller's
    /// own, for a write that locks or claims before it changes anything).
    pub async fn record(
        &self,
        conn: &mut AsyncPgConnection,
        change: Change<'_>,
    ) -> Result<(), ApiError> {
        statement(concat!(
            crate::record_change!(),
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
        ))
        .bind::<SqlUuid, _>(self.group)
        .bind::<Nullable<SqlUuid>, _>(self.actor.map(Actor::actor_id))
        .bind::<Text, _>(change.action)
        .bind::<Text, _>(change.entity_type)
        .bind::<SqlUuid, _>(change.entity_id)
        .bind::<Nullable<Jsonb>, _>(change.before)
        .bind::<Nullable<Jsonb>, _>(change.after)
        .bind::<Nullable<Text>, _>(self.actor.and_then(|a| a.request_id()))
        .execute(conn)
        .await?;
        Ok(())
    }
}
