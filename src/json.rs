//! The body and query extractors of every handler. They read like `actix_web::web::Json` and
//! `web::Query`, but input that does not fit the request type names the path of the offending
//! input in `errors[].field` (`lines[0].quantity`, `list_price`, `roles`, `limit`), never its
//! value (§2). A JSON body that parses but does not fit is 422, malformed JSON 400, a body larger
//! than `BODY_LIMIT_BYTES` 413 (`PayloadConfig`), a content type other than JSON 415; a query
//! string that does not fit is 400.

use std::ops::Deref;

use actix_web::dev::Payload;
use actix_web::{web, FromRequest, HttpMessage as _, HttpRequest};
use futures_util::future::LocalBoxFuture;
use serde::de::DeserializeOwned;

use crate::error::{ApiError, FieldError};

/// A request body deserialised from JSON (see the module documentation).
#[derive(Debug)]
pub struct Json<T>(pub T);

impl<T> Json<T> {
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> Deref for Json<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: DeserializeOwned + 'static> FromRequest for Json<T> {
    type Error = actix_web::Error;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let is_json = matches!(req.mime_type(), Ok(Some(mime))
            if mime.subtype() == actix_web::mime::JSON || mime.suffix() == Some(actix_web::mime::JSON));
        let body = web::Bytes::from_request(req, payload);
        Box::pin(async move {
            if !is_json {
                return Err(ApiError::UnsupportedMediaType.into());
            }
            let bytes = body.await?;
            parse(&bytes).map(Json).map_err(Into::into)
        })
    }
}

/// Query parameters deserialised into `T` (see the module documentation).
#[derive(Debug)]
pub struct Query<T>(pub T);

impl<T> Query<T> {
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> Deref for Query<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: DeserializeOwned> FromRequest for Query<T> {
    type Error = actix_web::Error;
    type Future = std::future::Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        std::future::ready(
            parse_query(req.query_string())
                .map(Query)
                .map_err(Into::into),
        )
    }
}

/// Deserialises a query string as `T`, naming the parameter that does not fit (400).
pub fn parse_query<T: DeserializeOwned>(query: &str) -> Result<T, ApiError> {
    let pairs = form_urlencoded::parse(query.as_bytes());
    serde_path_to_error::deserialize(serde_urlencoded::Deserializer::new(pairs)).map_err(|error| {
        let path = error.path().to_string();
        let message = error.into_inner().to_string();
        let field = match field_path(&path, &message).as_str() {
            "body" => "query".to_owned(),
            field => field.to_owned(),
        };
        ApiError::Validation {
            status: actix_web::http::StatusCode::BAD_REQUEST,
            detail: format!("Invalid query parameter {field}: {message}"),
            errors: vec![FieldError::new(field, message)],
        }
    })
}

/// Deserialises `bytes` as `T`, naming the path of the first input that does not fit.
pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize::<_, T>(&mut deserializer).map_err(|error| {
        let path = error.path().to_string();
        let inner = error.into_inner();
        let message = strip_position(&inner.to_string());
        if inner.is_data() {
            ApiError::invalid(vec![FieldError::new(field_path(&path, &message), message)])
        } else {
            ApiError::bad_request(format!("Malformed JSON: {inner}"))
        }
    })?;
    deserializer
        .end()
        .map_err(|error| ApiError::bad_request(format!("Malformed JSON: {error}")))?;
    Ok(value)
}

/// The path of the input a serde message is about: `path` itself, or for a missing or unknown
/// field, `path` followed by that field's name.
fn field_path(path: &str, message: &str) -> String {
    let named = ["missing field `", "unknown field `", "duplicate field `"]
        .iter()
        .find_map(|prefix| message.strip_prefix(prefix))
        .and_then(|rest| rest.split_once('`'))
        .map(|(name, _)| name);
    match (path, named) {
        (".", Some(name)) => name.to_owned(),
        (".", None) => "body".to_owned(),
        (path, Some(name)) if path.rsplit('.').next() != Some(name) => format!("{path}.{name}"),
        (path, _) => path.to_owned(),
    }
}

fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(index) => message.get(..index).unwrap_or(message).to_owned(),
        None => message.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Line {
        product_id: String,
        quantity: i64,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Order {
        lines: Vec<Line>,
        note: Option<String>,
    }

    fn field_of(body: &str) -> String {
        match parse::<Order>(body.as_bytes()) {
            Err(error) => error.to_problem().errors[0].field.clone(),
            Ok(order) => panic!("accepted {order:?}"),
        }
    }

    #[test]
    fn errors_name_the_path_never_the_value() {
        assert_eq!(
            field_of(
                r#"{"lines":[{"product_id":"a","quantity":1},{"product_id":"b","quantity":1.5}]}"#
            ),
            "lines[1].quantity"
        );
        assert_eq!(
            field_of(r#"{"lines":[{"product_id":"a"}]}"#),
            "lines[0].quantity"
        );
        assert_eq!(field_of(r#"{"lines":[],"roles":["admin"]}"#), "roles");
        assert_eq!(
            field_of(r#"{"lines":[{"product_id":"a","quantity":1,"price":"0"}]}"#),
            "lines[0].price"
        );
        assert_eq!(field_of(r#"{}"#), "lines");
        assert_eq!(field_of(r#"{"lines":"1.5"}"#), "lines");
    }

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Page {
        limit: Option<u32>,
        cursor: Option<String>,
    }

    #[test]
    fn query_errors_name_the_parameter() {
        let field = |query: &str| {
            parse_query::<Page>(query)
                .err()
                .map(|e| e.to_problem())
                .map(|p| (p.status, p.errors[0].field.clone()))
        };
        assert_eq!(field("limit=abc"), Some((400, "limit".to_owned())));
        assert_eq!(field("cursor=x&limit=-1"), Some((400, "limit".to_owned())));
        assert!(parse_query::<Page>("limit=5&cursor=abc").is_ok());
    }

    #[test]
    fn syntax_errors_are_400() {
        let error = parse::<Order>(b"{\"lines\": [").err();
        assert_eq!(error.map(|e| e.to_problem().status), Some(400));
        let error = parse::<Order>(b"{\"lines\": []} trailing").err();
        assert_eq!(error.map(|e| e.to_problem().status), Some(400));
    }
}
