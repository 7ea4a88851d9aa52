//! `GET /docs`: the API reference rendered by Swagger UI, served entirely by this binary (the
//! UI's files are compiled in by utoipa-swagger-ui's `vendored` feature), so the page works on
//! a network with no way out. The page reads the document from `/api-docs/openapi.json`; the
//! online spec validator is switched off, so the page makes no request elsewhere.

use std::sync::Arc;

use actix_web::{http::header, web, HttpResponse};
use utoipa_swagger_ui::Config;

/// Where the UI's files are served; the page refers to them by these absolute paths, so
/// `/docs` itself needs no trailing slash.
const ASSETS: &str = "/docs/";

fn config() -> Arc<Config<'static>> {
    Arc::new(Config::new(["/api-docs/openapi.json"]).validator_url("none"))
}

/// Registers `GET /docs` and `GET /docs/{file}`.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/docs").get(page))
        .service(web::resource("/docs/{file}").get(asset));
}

async fn page() -> HttpResponse {
    match utoipa_swagger_ui::serve("index.html", config()) {
        Ok(Some(file)) => {
            let html = absolute_assets(&String::from_utf8_lossy(&file.bytes));
            HttpResponse::Ok()
                .content_type("text/html; charset=utf-8")
                .body(html)
        }
        _ => HttpResponse::InternalServerError().finish(),
    }
}

/// Rewrites each relative `href="…"` / `src="…"` (`./x.js`, `index.css`) to `/docs/x.js`.
fn absolute_assets(html: &str) -> String {
    let mut out = String::with_capacity(html.len() + 64);
    let mut rest = html;
    while let Some(at) = ["href=\"", "src=\""]
        .iter()
        .filter_map(|attr| rest.find(attr).map(|i| (i, attr.len())))
        .min()
    {
        let (index, length) = at;
        let (head, tail) = rest.split_at(index + length);
        out.push_str(head);
        let value = tail.split('"').next().unwrap_or("");
        if value.starts_with('/') || value.contains(':') {
            rest = tail;
        } else {
            out.push_str(ASSETS);
            rest = tail.strip_prefix("./").unwrap_or(tail);
        }
    }
    out.push_str(rest);
    out
}

async fn asset(file: web::Path<String>) -> HttpResponse {
    if file.as_str() == "index.html" {
        return HttpResponse::NotFound().finish();
    }
    match utoipa_swagger_ui::serve(&file, config()) {
        Ok(Some(found)) => HttpResponse::Ok()
            .content_type(found.content_type)
            .insert_header((header::CACHE_CONTROL, "public, max-age=3600"))
            .body(found.bytes.to_vec()),
        Ok(None) => HttpResponse::NotFound().finish(),
        Err(_) => HttpResponse::InternalServerError().finish(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn relative_assets_become_absolute() {
        let html = r#"<link href="./a.css"><link href="index.css"><script src="/x.js"></script><a href="https://e.example/">"#;
        assert_eq!(
            super::absolute_assets(html),
            r#"<link href="/docs/a.css"><link href="/docs/index.css"><script src="/x.js"></script><a href="https://e.example/">"#
        );
    }
}
