//! Each migration's `down.sql` undoes its `up.sql`: on a fresh database, migration by migration,
//! a snapshot of the catalog (relations, columns, constraints, indexes, functions, triggers,
//! types, sequences, views, extensions) taken before `up` must come back after `up` + `down`,
//! and `up` applied again must give what it gave the first time.

use std::collections::BTreeSet;

use diesel::sql_types::Text;
use diesel_async::{AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};

use crate::helpers::{migration_dirs, TestDatabase};

#[derive(diesel::QueryableByName)]
struct Line {
    #[diesel(sql_type = Text)]
    line: String,
}

/// What the schema `public` holds, one line per object and property.
const SNAPSHOT: &str = r#"
SELECT 'relation ' || c.relname || ' kind=' || c.relkind::text
       || ' options=' || coalesce(array_to_string(c.reloptions, ','), '')
       || ' rls=' || c.relrowsecurity AS line
  FROM pg_class c WHERE c.relnamespace = 'public'::regnamespace
UNION ALL
SELECT 'column ' || c.relname || '.' || a.attname || ' ' || format_type(a.atttypid, a.atttypmod)
       || ' not_null=' || a.attnotnull || ' generated=' || a.attgenerated::text
       || ' identity=' || a.attidentity::text
       || ' default=' || coalesce(pg_get_expr(d.adbin, d.adrelid), '')
       || ' statistics=' || coalesce(a.attstattarget::text, '-1')
  FROM pg_attribute a
  JOIN pg_class c ON c.oid = a.attrelid
  LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
 WHERE c.relnamespace = 'public'::regnamespace AND a.attnum > 0 AND NOT a.attisdropped
   AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
UNION ALL
SELECT 'constraint ' || coalesce(c.relname, '-') || ' ' || k.conname || ' '
       || pg_get_constraintdef(k.oid)
  FROM pg_constraint k LEFT JOIN pg_class c ON c.oid = k.conrelid
 WHERE k.connamespace = 'public'::regnamespace
UNION ALL
SELECT 'index ' || indexdef FROM pg_indexes WHERE schemaname = 'public'
UNION ALL
SELECT 'function ' || p.oid::regprocedure || ' kind=' || p.prokind::text || ' '
       || CASE WHEN p.prokind IN ('f', 'p') THEN pg_get_functiondef(p.oid) ELSE '' END
  FROM pg_proc p WHERE p.pronamespace = 'public'::regnamespace
UNION ALL
SELECT 'trigger ' || pg_get_triggerdef(t.oid) || ' enabled=' || t.tgenabled::text
  FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
 WHERE c.relnamespace = 'public'::regnamespace AND NOT t.tgisinternal
UNION ALL
SELECT 'type ' || t.typname || ' kind=' || t.typtype::text || ' '
       || coalesce((SELECT string_agg(e.enumlabel, ',' ORDER BY e.enumsortorder)
                      FROM pg_enum e WHERE e.enumtypid = t.oid), '')
       || coalesce(' base=' || format_type(t.typbasetype, t.typtypmod), '')
  FROM pg_type t
 WHERE t.typnamespace = 'public'::regnamespace
   AND (t.typrelid = 0 OR (SELECT c.relkind FROM pg_class c WHERE c.oid = t.typrelid) = 'c')
UNION ALL
SELECT 'sequence ' || sequencename || ' ' || data_type::text || ' start=' || start_value
       || ' min=' || min_value || ' max=' || max_value || ' by=' || increment_by
       || ' cycle=' || cycle || ' cache=' || cache_size
  FROM pg_sequences WHERE schemaname = 'public'
UNION ALL
SELECT 'view ' || c.relname || ' ' || pg_get_viewdef(c.oid)
  FROM pg_class c WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('v', 'm')
UNION ALL
SELECT 'extension ' || extname || ' ' || extversion FROM pg_extension
UNION ALL
SELECT 'operator class ' || o.opcname || ' ' || a.amname
  FROM pg_opclass o JOIN pg_am a ON a.oid = o.opcmethod
 WHERE o.opcnamespace = 'public'::regnamespace
"#;

async fn snapshot(conn: &mut AsyncPgConnection) -> BTreeSet<String> {
    let lines: Vec<Line> = diesel::sql_query(SNAPSHOT).load(conn).await.unwrap();
    lines.into_iter().map(|l| l.line).collect()
}

/// Runs a migration file in one transaction, as diesel runs migrations, on a connection of its
/// own (a migration may leave session state behind, such as `pg_temp` functions).
async fn run(db: &TestDatabase, dir: &std::path::Path, file: &str) {
    let sql = std::fs::read_to_string(dir.join(file)).unwrap();
    let mut conn = db.connect().await;
    conn.batch_execute(&format!("BEGIN;\n{sql}\n;COMMIT;"))
        .await
        .unwrap_or_else(|e| panic!("{}/{file}: {e}", dir.display()));
}

fn assert_same(expected: &BTreeSet<String>, actual: &BTreeSet<String>, what: &str) {
    let missing: Vec<_> = expected.difference(actual).collect();
    let extra: Vec<_> = actual.difference(expected).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "{what}\n--- missing afterwards:\n{}\n--- left over / changed afterwards:\n{}",
        missing
            .iter()
            .map(|l| l.as_str())
            .collect::<Vec<_>>()
            .join("\n"),
        extra
            .iter()
            .map(|l| l.as_str())
            .collect::<Vec<_>>()
            .join("\n"),
    );
}

#[tokio::test]
async fn each_migrations_down_sql_undoes_its_up_sql() {
    let db = TestDatabase::empty().await;
    let mut conn = db.connect().await;
    let dirs = migration_dirs();
    assert!(dirs.len() >= 10, "migrations not found: {dirs:?}");
    for dir in &dirs {
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        let before = snapshot(&mut conn).await;
        run(&db, dir, "up.sql").await;
        let up = snapshot(&mut conn).await;
        assert_ne!(
            before, up,
            "{name}: up.sql changed nothing the snapshot sees"
        );
        run(&db, dir, "down.sql").await;
        assert_same(
            &before,
            &snapshot(&mut conn).await,
            &format!("{name}: down.sql does not undo up.sql"),
        );
        run(&db, dir, "up.sql").await;
        assert_same(
            &up,
            &snapshot(&mut conn).await,
            &format!("{name}: up.sql applied again after down.sql gives another schema"),
        );
    }
}
