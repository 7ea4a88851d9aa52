//! The JSON body extractor of every handler. It reads like `actix_web::web::Json`, but a body
//! that parses and does not fit the request type is a 422 whose `errors[].field` is the path of
//! the offending input (`lines[0].quantity`, `list_price`, `roles`), never its value (§2).
//! Bodies larger than `BODY_LIMIT_BYTES` are 413 (`PayloadConfig`), syntax errors 400, and a
//! content type other than JSON 415.

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

    #[test]
    fn syntax_errors_are_400() {
        let error = parse::<Order>(b"{\"lines\": [").err();
        assert_eq!(error.map(|e| e.to_problem().status), Some(400));
        let error = parse::<Order>(b"{\"lines\": []} trailing").err();
        assert_eq!(error.map(|e| e.to_problem().status), Some(400));
    }
}
