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

/// One CSV field, quoted when it holds a comma, a quote or a line break (RFC 4180).
fn field(value: &str) -> String {
    if value.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value.to_owned()
    }
}

/// A CSV answer: a header line and one line per row.
pub fn csv(columns: &[&str], rows: impl IntoIterator<Item = Vec<String>>) -> HttpResponse {
    let mut body = columns.join(",");
    body.push('\n');
    for row in rows {
        let line: Vec<String> = row.iter().map(|v| field(v)).collect();
        body.push_str(&line.join(","));
        body.push('\n');
    }
    HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .body(body)
}
