//! `src/db/schema.rs` must describe the migrated database exactly: every table, column, type
//! and nullability. Fails when a migration changes and the schema file was not regenerated.

use std::collections::BTreeMap;

use diesel::sql_types::{Bool, Text};
use diesel_async::RunQueryDsl;

#[derive(diesel::QueryableByName)]
struct Column {
    #[diesel(sql_type = Text)]
    table_name: String,
    #[diesel(sql_type = Text)]
    column_name: String,
    #[diesel(sql_type = Text)]
    udt_name: String,
    #[diesel(sql_type = Bool)]
    nullable: bool,
}

fn diesel_type(udt: &str) -> String {
    match udt {
        "uuid" => "Uuid".into(),
        "text" | "varchar" => "Text".into(),
        "int8" => "Int8".into(),
        "int4" => "Int4".into(),
        "int2" => "Int2".into(),
        "bool" => "Bool".into(),
        "numeric" => "Numeric".into(),
        "timestamptz" => "Timestamptz".into(),
        "date" => "Date".into(),
        "jsonb" => "Jsonb".into(),
        array if array.starts_with('_') => format!("Array<Nullable<{}>>", diesel_type(&array[1..])),
        other => format!("<unmapped {other}>"),
    }
}

/// Parses the `diesel::table!` blocks of schema.rs into table → column → type.
fn declared() -> BTreeMap<String, BTreeMap<String, String>> {
    let text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/src/db/schema.rs")).unwrap();
    let mut tables = BTreeMap::new();
    let mut current: Option<String> = None;
    for line in text.lines().map(str::trim) {
        if let Some(name) = line
            .strip_suffix('{')
            .and_then(|l| l.split_whitespace().next())
        {
            if line.contains('(') && !line.starts_with("diesel::") {
                current = Some(name.to_owned());
                tables.insert(name.to_owned(), BTreeMap::new());
                continue;
            }
        }
        if line == "}" {
            current = None;
            continue;
        }
        if let (Some(table), Some((column, sql_type))) = (&current, line.split_once("->")) {
            let entry: &mut BTreeMap<String, String> = tables.get_mut(table).unwrap();
            entry.insert(
                column.trim().to_owned(),
                sql_type.trim().trim_end_matches(',').to_owned(),
            );
        }
    }
    tables
}

#[tokio::test]
async fn schema_rs_matches_the_migrated_database() {
    let database = crate::helpers::TestDatabase::create().await;
    let mut conn = database.connect().await;
    let columns: Vec<Column> = diesel::sql_query(
        "SELECT c.table_name::text, c.column_name::text, c.udt_name::text, (c.is_nullable = 'YES') AS nullable \
         FROM information_schema.columns c JOIN information_schema.tables t USING (table_schema, table_name) \
         WHERE c.table_schema = 'public' AND t.table_type = 'BASE TABLE' \
           AND c.table_name NOT LIKE '\\_\\_diesel%'",
    )
    .load(&mut conn)
    .await
    .unwrap();
    let mut actual: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for column in columns {
        let base = diesel_type(&column.udt_name);
        let sql_type = if column.nullable {
            format!("Nullable<{base}>")
        } else {
            base
        };
        actual
            .entry(column.table_name)
            .or_default()
            .insert(column.column_name, sql_type);
    }
    assert_eq!(
        declared(),
        actual,
        "src/db/schema.rs disagrees with the migrations; regenerate it (diesel print-schema) or fix it"
    );
}
