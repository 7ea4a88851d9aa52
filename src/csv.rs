//! CSV answers (RFC 4180) for reports that finance and payroll import: chosen with
//! `Accept: text/csv`.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse};

/// Whether the client asked for CSV (`Accept: text/csv`).
pub fn wants_csv(req: &HttpRequest) -> bool {
    req.headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/csv"))
}

/// One CSV field, made safe for a spreadsheet and quoted when it holds a comma, a quote or a
/// line break (RFC 4180). A field a spreadsheet would take for a formula (it begins with `=`,
/// `+`, `-`, `@`, a tab or a carriage return) is prefixed with `'` (OWASP CSV injection),
/// except a plain signed number such as an amount (`-12.00`), which no spreadsheet executes.
fn field(value: &str) -> String {
    let formula = value.starts_with(['=', '+', '-', '@', '\t', '\r']) && !plain_number(value);
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

/// One CSV record of `row`'s fields, with its line break.
pub fn record<S: AsRef<str>>(row: &[S]) -> String {
    let mut line = row
        .iter()
        .map(|v| field(v.as_ref()))
        .collect::<Vec<_>>()
        .join(",");
    line.push('\n');
    line
}

/// A CSV answer: a header line and one line per row.
pub fn csv(columns: &[&str], rows: impl IntoIterator<Item = Vec<String>>) -> HttpResponse {
    let mut body = columns.join(",");
    body.push('\n');
    for row in rows {
        body.push_str(&record(&row));
    }
    HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .body(body)
}

#[cfg(test)]
mod tests {
    use super::record;

    #[test]
    fn a_spreadsheet_cannot_execute_a_field() {
        assert_eq!(
            record(&[
                "=HYPERLINK(\"x\")",
                "+1",
                "@SUM(A1)",
                "\tx",
                "-cmd|' /C calc'!A0"
            ]),
            "\"'=HYPERLINK(\"\"x\"\")\",'+1,'@SUM(A1),'\tx,'-cmd|' /C calc'!A0\n"
        );
        // Amounts stay numbers; text that merely contains the characters is left alone.
        assert_eq!(
            record(&["-12.00", "-7", "12.50", "a=b", "Ann-Marie"]),
            "-12.00,-7,12.50,a=b,Ann-Marie\n"
        );
        assert_eq!(record(&["-", "-.5", "-1e5"]), "'-,'-.5,'-1e5\n");
        assert_eq!(record(&["a,b", "\r\n"]), "\"a,b\",\"'\r\n\"\n");
    }
}
