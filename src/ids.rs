//! Where new ids come from: random (version 4) UUIDs, made here only (clippy's
//! `disallowed-methods` refuses `Uuid::new_v4` elsewhere), so that a change of id scheme, such
//! as time-ordered ids that are kinder to B-tree indexes, is one change.

use uuid::Uuid;

/// A new, random id.
#[allow(clippy::disallowed_methods)]
pub fn fresh() -> Uuid {
    Uuid::new_v4()
}
