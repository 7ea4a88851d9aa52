//! The one JSON body extractor of the API (query strings: [`crate::json::Query`]). It differs
//! from `actix_web::web::Json` in three ways:
//!
//! - **Errors name the path of the offending input, never its value** (§2): a body that parses
//!   but does not fit is 422 with `errors[].field` = `lines[0].quantity`, `list_price`, `roles`
//!   (unknown), `lines` (missing); malformed JSON (or trailing input) is 400, a body larger than
//!   `BODY_LIMIT_BYTES` 413, a content type other than JSON 415.
//! - **Text PostgreSQL cannot store is refused here, for every field of every body**: a string
//!   holding U+0000 (NUL) is a 422 naming the field (`lines[0].name`), so it never reaches the
//!   database (which would refuse it with an error the client would see as a 500).
//! - **Its errors wait for authorization.** Extraction itself never fails: the outcome is kept
//!   and the handler takes it with [`Body::into_inner`]. actix polls a handler's extractors
//!   together, so with `web::Json` a malformed body (answered at once) beat the role check
//!   (which reads the database) and a caller without the role learnt the body's shape from the
//!   422. With `Body`, every 401/403 of the handler's other extractors comes first.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::web::Bytes;
use actix_web::{mime, web, FromRequest, HttpRequest};
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::error::{self, ApiError, FieldError};
use crate::state::AppState;

/// A JSON request body of type `T`, or the problem that reading it met.
pub struct Body<T>(Result<T, ApiError>);

impl<T> Body<T> {
    /// The parsed body, or its 400/413/415/422 problem.
    pub fn into_inner(self) -> Result<T, ApiError> {
        self.0
    }
}

/// An optional JSON body: none at all (empty) is `None`; anything else is read as [`Body`] reads.
pub struct OptionalBody<T>(Result<Option<T>, ApiError>);

impl<T> OptionalBody<T> {
    /// The parsed body (`None` when the request had none), or its problem.
    pub fn into_inner(self) -> Result<Option<T>, ApiError> {
        self.0
    }
}

type Reading<T> = Pin<Box<dyn Future<Output = Result<Option<T>, ApiError>>>>;

/// Reads and parses the body; `optional` lets an empty one be `None`.
fn read<T: DeserializeOwned + 'static>(
    req: &HttpRequest,
    payload: &mut Payload,
    optional: bool,
) -> Reading<T> {
    let limit = req
        .app_data::<web::Data<AppState>>()
        .map(|state| state.settings.body_limit);
    let json_type = is_json(req);
    let bytes = Bytes::from_request(req, payload);
    Box::pin(async move {
        if !json_type && !optional {
            return Err(ApiError::UnsupportedMediaType);
        }
        let bytes = match bytes.await {
            Ok(bytes) => bytes,
            Err(e) if e.as_response_error().status_code().as_u16() == 413 => {
                return Err(ApiError::PayloadTooLarge {
                    limit: limit.unwrap_or_default(),
                })
            }
            Err(_) => return Err(ApiError::bad_request("The request body could not be read.")),
        };
        if optional && bytes.is_empty() {
            return Ok(None);
        }
        if !json_type {
            return Err(ApiError::UnsupportedMediaType);
        }
        parse(&bytes).map(Some)
    })
}

impl<T: DeserializeOwned + 'static> FromRequest for Body<T> {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let reading = read::<T>(req, payload, false);
        Box::pin(async move {
            Ok(Self(reading.await.and_then(|body| {
                body.ok_or_else(|| ApiError::bad_request("A JSON body is required."))
            })))
        })
    }
}

impl<T: DeserializeOwned + 'static> FromRequest for OptionalBody<T> {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let reading = read::<T>(req, payload, true);
        Box::pin(async move { Ok(Self(reading.await)) })
    }
}

/// `application/json` or any `…+json` type, as `web::Json` accepts.
fn is_json(req: &HttpRequest) -> bool {
    req.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<mime::Mime>().ok())
        .is_some_and(|mime| {
            mime.type_() == mime::APPLICATION
                && (mime.subtype() == mime::JSON || mime.suffix() == Some(mime::JSON))
        })
}

/// Syntax → 400; text PostgreSQL cannot store, wrong shape or unknown field → 422 naming the
/// path of the input (`lines[1].quantity`), never its value.
pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let mut value: Value = serde_json::from_slice(bytes).map_err(|e| {
        ApiError::bad_request(format!(
            "Malformed JSON: {}",
            error::strip_position(&e.to_string())
        ))
    })?;
    integral_numbers_as_integers(&mut value);
    if let Some(field) = unstorable_text(&value, &mut String::new()) {
        return Err(ApiError::invalid(vec![FieldError::new(
            field,
            "contains U+0000 (NUL), which text fields cannot hold",
        )]));
    }
    serde_path_to_error::deserialize::<_, T>(value).map_err(|error| {
        let path = error.path().to_string();
        let message = error::strip_position(&error.into_inner().to_string());
        ApiError::invalid(vec![FieldError::new(
            crate::json::field_path(&path, &message),
            message,
        )])
    })
}

/// JSON has one number type and JSON Schema counts `3.0` as an integer; serde would refuse it
/// for an integer field. Every number with an integral value that fits an `i64` is made an
/// integer, so the server takes what the document calls valid.
fn integral_numbers_as_integers(value: &mut Value) {
    match value {
        Value::Number(number) if !number.is_i64() && !number.is_u64() => {
            if let Some(float) = number.as_f64() {
                // The range check makes the conversion exact (|float| < 2^63).
                if float.fract() == 0.0 && float.abs() < 9.2e18 {
                    #[allow(clippy::as_conversions)]
                    let integer = float as i64;
                    *value = Value::from(integer);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(integral_numbers_as_integers),
        Value::Object(fields) => fields.values_mut().for_each(integral_numbers_as_integers),
        _ => {}
    }
}

/// Whether `text` can be stored in a PostgreSQL text column (everything but NUL can).
pub fn storable(text: &str) -> bool {
    !text.contains('\0')
}

/// The path (`lines[0].name`) of the first string, or object key, that cannot be stored.
fn unstorable_text(value: &Value, path: &mut String) -> Option<String> {
    match value {
        Value::String(text) if !storable(text) => Some(if path.is_empty() {
            "body".into()
        } else {
            path.clone()
        }),
        Value::Array(items) => items.iter().enumerate().find_map(|(index, item)| {
            let length = path.len();
            path.push_str(&format!("[{index}]"));
            let found = unstorable_text(item, path);
            path.truncate(length);
            found
        }),
        Value::Object(fields) => fields.iter().find_map(|(key, item)| {
            if !storable(key) {
                return Some(if path.is_empty() {
                    "body".into()
                } else {
                    path.clone()
                });
            }
            let length = path.len();
            if !path.is_empty() {
                path.push('.');
            }
            path.push_str(key);
            let found = unstorable_text(item, path);
            path.truncate(length);
            found
        }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Line {
        name: String,
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Sample {
        title: String,
        lines: Vec<Line>,
    }

    fn field_of(result: Result<Sample, ApiError>) -> Option<(u16, String)> {
        match result {
            Err(ApiError::Validation { status, errors, .. }) => {
                errors.first().map(|e| (status.as_u16(), e.field.clone()))
            }
            _ => None,
        }
    }

    #[test]
    fn nul_is_refused_with_the_path_of_its_field() {
        let body = br#"{"title":"ok","lines":[{"name":"a"},{"name":"b\u0000c"}]}"#;
        assert_eq!(
            field_of(parse(body)),
            Some((422, "lines[1].name".to_owned()))
        );
        let body = br#"{"title":"\u0000","lines":[]}"#;
        assert_eq!(field_of(parse(body)), Some((422, "title".to_owned())));
    }

    #[test]
    fn integral_floats_are_integers() {
        #[derive(serde::Deserialize)]
        struct Count {
            n: i32,
        }
        assert_eq!(
            parse::<Count>(br#"{"n": -3629.0}"#).map(|c| c.n).ok(),
            Some(-3629)
        );
        assert_eq!(
            parse::<Count>(br#"{"n": 1e3}"#).map(|c| c.n).ok(),
            Some(1000)
        );
        assert!(parse::<Count>(br#"{"n": 1.5}"#).is_err());
    }

    #[test]
    fn syntax_is_400_and_shape_is_422() {
        assert!(matches!(
            parse::<Sample>(b"{"),
            Err(ApiError::Validation { status, .. }) if status.as_u16() == 400
        ));
        assert_eq!(
            field_of(parse(br#"{"title":"x","lines":[],"extra":1}"#)),
            Some((422, "extra".to_owned()))
        );
        assert!(parse::<Sample>(br#"{"title":"x","lines":[{"name":"y"}]}"#).is_ok());
        assert!(matches!(
            parse::<Sample>(br#"{"title":"x","lines":[]} trailing"#),
            Err(ApiError::Validation { status, .. }) if status.as_u16() == 400
        ));
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct OrderLine {
        product_id: String,
        quantity: i64,
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Order {
        lines: Vec<OrderLine>,
        note: Option<String>,
    }

    fn path_of(body: &str) -> String {
        match parse::<Order>(body.as_bytes()) {
            Err(error) => error.to_problem().errors[0].field.clone(),
            Ok(order) => panic!("accepted {order:?}"),
        }
    }

    #[test]
    fn errors_name_the_path_never_the_value() {
        assert_eq!(
            path_of(
                r#"{"lines":[{"product_id":"a","quantity":1},{"product_id":"b","quantity":1.5}]}"#
            ),
            "lines[1].quantity"
        );
        assert_eq!(
            path_of(r#"{"lines":[{"product_id":"a"}]}"#),
            "lines[0].quantity"
        );
        assert_eq!(path_of(r#"{"lines":[],"roles":["admin"]}"#), "roles");
        assert_eq!(
            path_of(r#"{"lines":[{"product_id":"a","quantity":1,"price":"0"}]}"#),
            "lines[0].price"
        );
        assert_eq!(path_of(r#"{}"#), "lines");
        assert_eq!(path_of(r#"{"lines":"1.5"}"#), "lines");
        assert_eq!(
            path_of(r#"{"lines":[{"product_id":"a\u0000","quantity":1}]}"#),
            "lines[0].product_id"
        );
    }
}
