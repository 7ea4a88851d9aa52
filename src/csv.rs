//! CSV answers (RFC 4180) for reports that finance and payroll import: chosen with
//! `Accept: text/csv`.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};

/// Whether the client asked for CSV (`Accept: text/csv`).
pub fn wants_csv(req: &HttpRequest) -> bool {
    req.headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/csv"))
}

/// A column of a CSV answer: its header, and whether it holds figures the service computes.
///
/// Only a figure column may hold a plain signed number unprefixed (`-12.00`): there the sign
/// is the figure's, put by the service. In a text column the same characters may be what a
/// person typed (a name of `-12`, say), so they are neutralised like any other formula.
#[derive(Debug, Clone, Copy)]
pub struct Column {
    name: &'static str,
    figure: bool,
}

impl Column {
    /// A column of text: identifiers, codes, dates, names, descriptions.
    pub const fn text(name: &'static str) -> Self {
        Self {
            name,
            figure: false,
        }
    }

    /// A column of amounts or other signed figures the service computes (markups).
    pub const fn figure(name: &'static str) -> Self {
        Self { name, figure: true }
    }
}

/// A CSV answer's columns in order, by name: a text column as it stands, a figure column
/// marked `#` (`csv_columns![employee_id, #amount, currency]`).
#[macro_export]
macro_rules! csv_columns {
    (@columns [$($done:expr),*]) => { [$($done),*] };
    (@columns [$($done:expr),*] # $name:ident $(, $($rest:tt)*)?) => {
        $crate::csv_columns!(
            @columns [$($done,)* $crate::csv::Column::figure(stringify!($name))] $($($rest)*)?
        )
    };
    (@columns [$($done:expr),*] $name:ident $(, $($rest:tt)*)?) => {
        $crate::csv_columns!(
            @columns [$($done,)* $crate::csv::Column::text(stringify!($name))] $($($rest)*)?
        )
    };
    ($($columns:tt)*) => { $crate::csv_columns!(@columns [] $($columns)*) };
}

/// One CSV field, made safe for a spreadsheet and quoted when it holds a comma, a quote or a
/// line break (RFC 4180). A field a spreadsheet would take for a formula (it begins with `=`,
/// `+`, `-`, `@`, a tab or a carriage return) is prefixed with `'` (OWASP CSV injection),
/// except a plain signed number in a figure column (`-12.00`), which no spreadsheet executes.
fn field(value: &str, column: Option<&Column>) -> String {
    let figure = column.is_some_and(|c| c.figure) && plain_number(value);
    let formula = value.starts_with(['=', '+', '-', '@', '\t', '\r']) && !figure;
    let value = if formula {
        format!("'{value}")
    } else {
        value.to_owned()
    };
    if value.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value
    }
}

/// `-12.00`, `7`: an optional minus, digits, an optional fraction.
fn plain_number(value: &str) -> bool {
    let digits = value.strip_prefix('-').unwrap_or(value);
    let (whole, fraction) = digits.split_once('.').unwrap_or((digits, "0"));
    !whole.is_empty()
        && !fraction.is_empty()
        && whole
            .bytes()
            .chain(fraction.bytes())
            .all(|b| b.is_ascii_digit())
}

/// The header record of `columns`, with its line break.
pub fn header(columns: &[Column]) -> String {
    let mut line = columns.iter().map(|c| c.name).collect::<Vec<_>>().join(",");
    line.push('\n');
    line
}

/// One CSV record of `row`'s fields under `columns`, with its line break.
pub fn record<S: AsRef<str>>(columns: &[Column], row: &[S]) -> String {
    let mut line = row
        .iter()
        .enumerate()
        .map(|(i, v)| field(v.as_ref(), columns.get(i)))
        .collect::<Vec<_>>()
        .join(",");
    line.push('\n');
    line
}

/// A moment as a CSV field: RFC 3339, empty when there is none.
pub fn moment(at: Option<DateTime<Utc>>) -> String {
    at.map(|at| at.to_rfc3339()).unwrap_or_default()
}

/// A CSV answer: a header line and one line per row.
pub fn csv(columns: &[Column], rows: impl IntoIterator<Item = Vec<String>>) -> HttpResponse {
    let mut body = header(columns);
    for row in rows {
        body.push_str(&record(columns, &row));
    }
    HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .body(body)
}

#[cfg(test)]
mod tests {
    use super::{record, Column};

    const TEXT: [Column; 5] = [Column::text("a"); 5];

    #[test]
    fn a_spreadsheet_cannot_execute_a_field() {
        assert_eq!(
            record(
                &TEXT,
                &[
                    "=HYPERLINK(\"x\")",
                    "+1",
                    "@SUM(A1)",
                    "\tx",
                    "-cmd|' /C calc'!A0"
                ]
            ),
            "\"'=HYPERLINK(\"\"x\"\")\",'+1,'@SUM(A1),'\tx,'-cmd|' /C calc'!A0\n"
        );
        assert_eq!(record(&TEXT, &["a,b", "\r\n"]), "\"a,b\",\"'\r\n\"\n");
    }

    #[test]
    fn only_a_figure_column_keeps_a_signed_number() {
        let columns = [
            Column::figure("amount"),
            Column::figure("markup"),
            Column::figure("total"),
            Column::text("name"),
            Column::text("note"),
            Column::text("city"),
        ];
        // Figures stay numbers; text that merely contains the characters is left alone.
        assert_eq!(
            record(
                &columns,
                &["-12.00", "-7", "12.50", "a=b", "Ann-Marie", "x"]
            ),
            "-12.00,-7,12.50,a=b,Ann-Marie,x\n"
        );
        // The same characters typed into a text column are neutralised.
        assert_eq!(
            record(&columns, &["1", "2", "3", "-12", "-7.50", "+1"]),
            "1,2,3,'-12,'-7.50,'+1\n"
        );
        // The declaration marks figure columns with `#`; the rest are text.
        let declared: [Column; 3] = crate::csv_columns![name, #amount, note,];
        assert_eq!(record(&declared, &["-1", "-1", "-1"]), "'-1,-1,'-1\n");
        assert_eq!(super::header(&declared), "name,amount,note\n");
        // Only a plain number escapes, even in a figure column.
        assert_eq!(record(&columns, &["-", "-.5", "-1e5"]), "'-,'-.5,'-1e5\n");
    }
}
