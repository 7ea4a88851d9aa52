//! Hand-written SQL that stays prepared. `diesel::sql_query` marks every query "unsafe to
//! cache", so PostgreSQL parses, analyses and plans it on every call — for the large
//! statements of the order path that was most of the database's time. A [`Statement`] is a
//! fixed SQL template whose `$n` markers are filled from typed binds; diesel caches it by its
//! text like any other query, so each connection prepares it once.

use diesel::pg::Pg;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::serialize::ToSql;
use diesel::sql_types::{HasSqlType, Untyped};
use diesel::QueryResult;
use std::marker::PhantomData;

/// One typed bind value.
trait BindValue: Send + Sync {
    fn push<'b>(&'b self, out: &mut AstPass<'_, 'b, Pg>) -> QueryResult<()>;
}

struct Typed<ST, U> {
    value: U,
    sql_type: PhantomData<fn() -> ST>,
}

impl<ST, U> BindValue for Typed<ST, U>
where
    Pg: HasSqlType<ST>,
    U: ToSql<ST, Pg> + Send + Sync,
{
    fn push<'b>(&'b self, out: &mut AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        out.push_bind_param::<ST, U>(&self.value)
    }
}

/// A SQL template with `$1`, `$2`, … markers (a marker may repeat) and its binds, loaded with
/// `QueryableByName` rows like `sql_query`. Templates must not contain `$` elsewhere (no
/// dollar-quoted strings).
#[must_use = "queries are only executed when loaded or executed"]
pub struct Statement<'a> {
    template: &'static str,
    binds: Vec<Box<dyn BindValue + 'a>>,
}

/// Starts a statement from a fixed template.
pub fn statement(template: &'static str) -> Statement<'static> {
    Statement {
        template,
        binds: Vec::new(),
    }
}

impl<'a> Statement<'a> {
    /// Binds the value of the next marker (`$1` first).
    pub fn bind<'v, ST, U>(self, value: U) -> Statement<'v>
    where
        'a: 'v,
        Pg: HasSqlType<ST>,
        ST: 'v,
        U: ToSql<ST, Pg> + Send + Sync + 'v,
    {
        let mut binds: Vec<Box<dyn BindValue + 'v>> = self.binds;
        binds.push(Box::new(Typed {
            value,
            sql_type: PhantomData::<fn() -> ST>,
        }));
        Statement {
            template: self.template,
            binds,
        }
    }
}

impl QueryFragment<Pg> for Statement<'_> {
    /// Writes the template without its `--` comments, each marker's first occurrence as a new
    /// bind and every later one as a reference to it: a marker used five times sends its value
    /// once, and a marker in a comment sends nothing. The statement is the whole query, so its
    /// k-th new bind is PostgreSQL's `$k`.
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        let mut assigned: Vec<Option<usize>> = vec![None; self.binds.len()];
        let mut pushed = 0_usize;
        for line in self.template.split_inclusive('\n') {
            let code = without_comment(line);
            if code.trim().is_empty() && code.len() < line.len() {
                // A comment line: nothing to send.
                continue;
            }
            let mut rest = code;
            while let Some(at) = rest.find('$') {
                out.push_sql(&rest[..at]);
                let digits = rest[at + 1..]
                    .find(|c: char| !c.is_ascii_digit())
                    .unwrap_or(rest.len() - at - 1);
                let number: usize = rest[at + 1..at + 1 + digits].parse().map_err(|_| {
                    diesel::result::Error::QueryBuilderError("a `$` without a bind number".into())
                })?;
                let index = number
                    .checked_sub(1)
                    .filter(|index| *index < self.binds.len())
                    .ok_or_else(|| {
                        diesel::result::Error::QueryBuilderError(
                            format!("${number} has no bound value").into(),
                        )
                    })?;
                match assigned.get(index).copied().flatten() {
                    Some(position) => out.push_sql(&format!("${position}")),
                    None => {
                        if let Some(bind) = self.binds.get(index) {
                            bind.push(&mut out)?;
                        }
                        pushed += 1;
                        if let Some(slot) = assigned.get_mut(index) {
                            *slot = Some(pushed);
                        }
                    }
                }
                rest = &rest[at + 1 + digits..];
            }
            out.push_sql(rest);
            if code.len() < line.len() && line.ends_with('\n') {
                // The comment took the line break with it: keep the lines apart.
                out.push_sql("\n");
            }
        }
        Ok(())
    }
}

/// `line` up to a `--` comment outside a quoted string.
fn without_comment(line: &str) -> &str {
    let mut quoted = false;
    let bytes = line.as_bytes();
    for (at, byte) in bytes.iter().enumerate() {
        match byte {
            b'\'' => quoted = !quoted,
            b'-' if !quoted && bytes.get(at + 1) == Some(&b'-') => {
                return line.get(..at).unwrap_or("");
            }
            _ => {}
        }
    }
    line
}

impl QueryId for Statement<'_> {
    type QueryId = ();
    // Not static: the cache key is the SQL text (and bind types), which is fixed per template.
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl Query for Statement<'_> {
    type SqlType = Untyped;
}

#[cfg(test)]
mod tests {
    use super::*;
    use diesel::sql_types::{Integer, Text};

    #[test]
    fn markers_become_binds_in_order_and_repeats_send_their_value_once() {
        let query = statement("SELECT $2::int AS a, $1 AS b, $2 AS c")
            .bind::<Text, _>("x")
            .bind::<Integer, _>(7);
        let sql = diesel::debug_query::<Pg, _>(&query).to_string();
        assert!(
            sql.starts_with("SELECT $1::int AS a, $2 AS b, $1 AS c"),
            "{sql}"
        );
        assert!(sql.contains("[7, \"x\"]"), "{sql}");
    }

    #[test]
    fn comments_send_no_binds() {
        let query = statement(
            "-- $1 the name, $2 the number\nSELECT $2 AS n, -- $1 again\n  '--' AS s, $1 AS t",
        )
        .bind::<Text, _>("x")
        .bind::<Integer, _>(7);
        let sql = diesel::debug_query::<Pg, _>(&query).to_string();
        assert!(
            sql.starts_with("SELECT $1 AS n, \n  '--' AS s, $2 AS t"),
            "{sql}"
        );
        assert!(sql.contains("[7, \"x\"]"), "{sql}");
    }

    #[test]
    fn a_marker_without_a_value_is_an_error() {
        let query = statement("SELECT $1, $2").bind::<Integer, _>(1);
        let mut builder = diesel::pg::PgQueryBuilder::default();
        let result = query.to_sql(&mut builder, &Pg);
        assert!(result.is_err());
    }
}
