//! The query extractor of every handler (bodies: [`crate::body::Body`]). It reads like
//! `actix_web::web::Query`, but a query string that does not fit the request type is 400 naming
//! the parameter in `errors[].field` (`limit`), never its value (§2).

use std::ops::Deref;

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest};
use serde::de::DeserializeOwned;

use crate::error::{ApiError, FieldError};

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
        let message = crate::error::without_value(&error.into_inner().to_string());
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

/// The path of the input a serde message is about: `path` itself, or for a missing or unknown
/// field, `path` followed by that field's name.
pub(crate) fn field_path(path: &str, message: &str) -> String {
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

/// A response body as a JSON value (what an idempotency key stores and replays).
pub fn to_value(view: &impl serde::Serialize) -> Result<serde_json::Value, crate::error::ApiError> {
    serde_json::to_value(view).map_err(|e| crate::error::ApiError::Internal(e.into()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

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
}
