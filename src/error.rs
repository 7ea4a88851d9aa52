//! One error type for the whole HTTP surface, rendered as RFC 9457 `application/problem+json`
//! in exactly one place, plus the extractor error handlers that route actix's own errors
//! (bad JSON, bad query, oversized bodies) through it; a bad path parameter is
//! `routing::path_error`'s, which needs the route table.

use actix_web::error::{JsonPayloadError, QueryPayloadError};
use actix_web::http::{header, Method, StatusCode};
use actix_web::{HttpRequest, HttpResponse, ResponseError};
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use serde::Serialize;
use utoipa::ToSchema;

/// The media type of every error body.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// One offending input field.
#[derive(Debug, Clone, Serialize, ToSchema, PartialEq, Eq)]
pub struct FieldError {
    /// The field's name (dotted for nested fields, e.g. `lines[2].quantity`).
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// RFC 9457 problem details, as sent to clients.
#[derive(Debug, Serialize, ToSchema)]
pub struct Problem {
    /// A URI naming the problem type (`about:blank` or a documented `urn:problem:` code).
    #[serde(rename = "type")]
    pub problem_type: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    /// Stable snake_case identifier that clients can branch on.
    pub code: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
}

/// Every failure a handler can return.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// Input was syntactically or semantically invalid (400 or 422, `validation_failed`).
    #[error("{detail}")]
    Validation {
        status: StatusCode,
        detail: String,
        errors: Vec<FieldError>,
    },
    #[error("authentication required")]
    Unauthorized,
    #[error("forbidden")]
    Forbidden,
    #[error("not found")]
    NotFound,
    /// A business rule refused the request with a specific status and code
    /// (e.g. 409 `insufficient_stock`, 422 `not_eligible`).
    #[error("{detail}")]
    Rule {
        status: StatusCode,
        code: &'static str,
        detail: String,
    },
    #[error("too many attempts")]
    RateLimited { retry_after_secs: u64 },
    #[error("payload too large")]
    PayloadTooLarge { limit: usize },
    #[error("unsupported media type")]
    UnsupportedMediaType,
    #[error("method not allowed")]
    MethodNotAllowed { allowed: Vec<Method> },
    /// A dependency (the database) is unavailable; the client may retry.
    #[error("service unavailable: {0}")]
    Unavailable(String),
    /// Anything unexpected. The cause is logged, never sent.
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl ApiError {
    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self::Validation {
            status: StatusCode::BAD_REQUEST,
            detail: detail.into(),
            errors: Vec::new(),
        }
    }

    pub fn bad_field(field: &str, message: impl Into<String>) -> Self {
        let message = message.into();
        Self::Validation {
            status: StatusCode::BAD_REQUEST,
            detail: format!("{field}: {message}"),
            errors: vec![FieldError::new(field, message)],
        }
    }

    /// 422 for input that parsed but breaks a rule, naming the fields.
    pub fn invalid(errors: Vec<FieldError>) -> Self {
        let detail = errors
            .iter()
            .map(|e| format!("{}: {}", e.field, e.message))
            .collect::<Vec<_>>()
            .join("; ");
        Self::Validation {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            detail,
            errors,
        }
    }

    pub fn invalid_field(field: &str, message: impl Into<String>) -> Self {
        Self::invalid(vec![FieldError::new(field, message)])
    }

    pub fn conflict(code: &'static str, detail: impl Into<String>) -> Self {
        Self::Rule {
            status: StatusCode::CONFLICT,
            code,
            detail: detail.into(),
        }
    }

    pub fn unprocessable(code: &'static str, detail: impl Into<String>) -> Self {
        Self::Rule {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            code,
            detail: detail.into(),
        }
    }

    /// Rewrites a unique-key conflict (from the database) with a message naming the field.
    pub fn explain_conflict(self, field: &str, message: &str) -> Self {
        match self {
            Self::Rule {
                code: "conflict",
                status,
                ..
            } => Self::Rule {
                status,
                code: "conflict",
                detail: format!("{field}: {message}"),
            },
            other => other,
        }
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::Internal(anyhow::anyhow!(message.into()))
    }

    pub fn code(&self) -> &'static str {
        match self {
            Self::Validation { .. } => "validation_failed",
            Self::Unauthorized => "unauthorized",
            Self::Forbidden => "forbidden",
            Self::NotFound => "not_found",
            Self::Rule { code, .. } => code,
            Self::RateLimited { .. } => "rate_limited",
            Self::PayloadTooLarge { .. } => "payload_too_large",
            Self::UnsupportedMediaType => "unsupported_media_type",
            Self::MethodNotAllowed { .. } => "method_not_allowed",
            Self::Unavailable(_) => "unavailable",
            Self::Internal(_) => "internal_error",
        }
    }

    fn detail(&self) -> String {
        match self {
            Self::Validation { detail, .. } | Self::Rule { detail, .. } => detail.clone(),
            Self::Unauthorized => "Missing, invalid or expired credentials.".into(),
            Self::Forbidden => "Your roles do not allow this operation.".into(),
            Self::NotFound => "The requested resource does not exist.".into(),
            Self::RateLimited { retry_after_secs } => {
                format!("Too many attempts; retry in {retry_after_secs} s.")
            }
            Self::PayloadTooLarge { limit } => {
                format!("The request body exceeds the limit of {limit} bytes.")
            }
            Self::UnsupportedMediaType => "The request body must be application/json.".into(),
            Self::MethodNotAllowed { allowed } => format!(
                "This resource supports: {}.",
                allowed
                    .iter()
                    .map(Method::as_str)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Self::Unavailable(_) => {
                "A dependency is temporarily unavailable; retry shortly.".into()
            }
            Self::Internal(_) => "An unexpected error occurred.".into(),
        }
    }

    pub fn to_problem(&self) -> Problem {
        let status = self.status_code();
        let errors = match self {
            Self::Validation { errors, .. } => errors.clone(),
            _ => Vec::new(),
        };
        problem(status, self.code(), self.detail(), errors)
    }
}

/// Builds a problem body; also used by the middleware that normalises framework responses.
pub fn problem(status: StatusCode, code: &str, detail: String, errors: Vec<FieldError>) -> Problem {
    Problem {
        problem_type: format!("urn:problem:{code}"),
        title: status.canonical_reason().unwrap_or("Error").to_owned(),
        status: status.as_u16(),
        detail,
        code: code.to_owned(),
        errors,
    }
}

/// The code used for a bare status when nothing more specific is known.
pub fn default_code(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 | 422 => "validation_failed",
        401 => "unauthorized",
        403 => "forbidden",
        404 => "not_found",
        405 => "method_not_allowed",
        409 => "conflict",
        413 => "payload_too_large",
        415 => "unsupported_media_type",
        429 => "rate_limited",
        503 => "unavailable",
        _ => "internal_error",
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::Validation { status, .. } | Self::Rule { status, .. } => *status,
            Self::Unauthorized => StatusCode::UNAUTHORIZED,
            Self::Forbidden => StatusCode::FORBIDDEN,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            // The cause goes to the log (inside the request span, so with its request id),
            // never to the client.
            Self::Internal(cause) => tracing::error!(error = ?cause, "internal error"),
            Self::Unavailable(cause) => tracing::warn!(%cause, "dependency unavailable"),
            _ => {}
        }
        let mut response = HttpResponse::build(self.status_code());
        response.content_type(PROBLEM_JSON);
        match self {
            Self::RateLimited { retry_after_secs } => {
                response.insert_header((header::RETRY_AFTER, retry_after_secs.to_string()));
            }
            Self::Unavailable(_) => {
                response.insert_header((header::RETRY_AFTER, "5"));
            }
            Self::MethodNotAllowed { allowed } => {
                response.insert_header(header::Allow(allowed.clone()));
            }
            Self::Unauthorized => {
                response.insert_header((header::WWW_AUTHENTICATE, "Bearer"));
            }
            _ => {}
        }
        response.json(self.to_problem())
    }
}

impl From<DieselError> for ApiError {
    fn from(error: DieselError) -> Self {
        match error {
            DieselError::NotFound => Self::NotFound,
            DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, info) => Self::conflict(
                "conflict",
                format!(
                    "A resource with the same unique value already exists ({}).",
                    info.constraint_name().unwrap_or("unique key")
                ),
            ),
            DieselError::DatabaseError(DatabaseErrorKind::ForeignKeyViolation, info) => {
                Self::invalid_field(
                    info.constraint_name()
                        .and_then(referring_field)
                        .or(info.column_name())
                        .unwrap_or("reference"),
                    "refers to a resource that does not exist in your group",
                )
            }
            DieselError::DatabaseError(DatabaseErrorKind::CheckViolation, info) => {
                Self::invalid_field(
                    info.constraint_name().unwrap_or("input"),
                    "violates a data rule",
                )
            }
            DieselError::DatabaseError(DatabaseErrorKind::ClosedConnection, _) => {
                Self::Unavailable("database connection closed".into())
            }
            // No SQLSTATE: the command never reached the server or its answer never came back
            // (tokio-postgres' "error communicating with the server: Connection reset by peer",
            // seen while PostgreSQL restarts). The request may be retried; it is not wrong.
            DieselError::DatabaseError(DatabaseErrorKind::UnableToSendCommand, info) => {
                Self::Unavailable(format!("database connection lost: {}", info.message()))
            }
            // A connection that died inside a transaction leaves its transaction manager broken;
            // the pool discards it. The database, not the request, failed.
            DieselError::BrokenTransactionManager => {
                Self::Unavailable("database connection lost inside a transaction".into())
            }
            DieselError::DatabaseError(DatabaseErrorKind::SerializationFailure, _) => {
                Self::Unavailable("transaction serialization failure".into())
            }
            DieselError::DatabaseError(_, info) if info.message().starts_with("period_closed:") => {
                let period = info.message().trim_start_matches("period_closed:");
                Self::conflict(
                    "period_closed",
                    format!("{period} is closed (months close in order, so is every month before the last closed one): nothing can be dated in it; book corrections in an open period"),
                )
            }
            DieselError::DatabaseError(_, info) if info.message().starts_with("policy_in_use:") => {
                Self::conflict(
                    "policy_in_use",
                    "lines were priced with this policy: its terms never change; supersede it with a new version",
                )
            }
            DieselError::DatabaseError(_, info)
                if info.constraint_name() == Some("transfer_pricing_policies_no_overlap") =>
            {
                Self::conflict(
                    "conflict",
                    "another policy of the same seller, buyer and category is valid on some of \
                     these days",
                )
            }
            // A connection the database dropped (a restart, an administrator's termination):
            // tokio-postgres reports it as "connection closed", the server as "terminating
            // connection" (SQLSTATE 57P01): the database is unavailable, not the request wrong.
            DieselError::DatabaseError(_, info)
                if info.message().contains("connection closed")
                    || info.message().contains("terminating connection")
                    || info
                        .message()
                        .contains("the database system is shutting down")
                    || info
                        .message()
                        .contains("the database system is starting up") =>
            {
                Self::Unavailable(format!("database connection lost: {}", info.message()))
            }
            // statement_timeout / lock_timeout (SQLSTATE 57014 / 55P03), or this transaction
            // chosen as a deadlock's victim (40P01, which diesel reports as `Unknown`): it was
            // rolled back whole, nothing was written; busy, try again.
            DieselError::DatabaseError(_, info)
                if info.message().contains("statement timeout")
                    || info.message().contains("lock timeout")
                    || info.message() == DEADLOCK =>
            {
                Self::Unavailable(format!("database busy: {}", info.message()))
            }
            other => Self::Internal(anyhow::Error::new(other)),
        }
    }
}

/// PostgreSQL's message for a transaction it rolled back to break a deadlock (SQLSTATE 40P01,
/// which diesel-async does not give a kind of its own, nor its code). Like the timeouts' texts
/// it assumes the server's `lc_messages` is English (PostgreSQL's default; the service's
/// sessions do not change it).
pub const DEADLOCK: &str = "deadlock detected";

/// An action the order's status does not allow.
impl From<crate::domain::lifecycle::Refused> for ApiError {
    fn from(refused: crate::domain::lifecycle::Refused) -> Self {
        ApiError::conflict("invalid_state", refused.to_string())
    }
}

impl From<crate::domain::Overflow> for ApiError {
    fn from(error: crate::domain::Overflow) -> Self {
        Self::Internal(anyhow::Error::new(error))
    }
}

/// The pool's error (`db::PoolError`), named by its crate so that this bottom module does not
/// import the database module above it.
impl From<diesel_async::pooled_connection::deadpool::PoolError> for ApiError {
    fn from(error: diesel_async::pooled_connection::deadpool::PoolError) -> Self {
        Self::Unavailable(format!("database pool: {error}"))
    }
}

/// Maps actix's JSON body errors to problems: syntax → 400, wrong shape or unknown
/// field → 422 naming the field, too large → 413, wrong content type → 415.
pub fn json_error(error: JsonPayloadError, _req: &HttpRequest) -> actix_web::Error {
    let api = match &error {
        JsonPayloadError::OverflowKnownLength { limit, .. }
        | JsonPayloadError::Overflow { limit } => ApiError::PayloadTooLarge { limit: *limit },
        JsonPayloadError::ContentType => ApiError::UnsupportedMediaType,
        JsonPayloadError::Deserialize(inner) if inner.is_data() => {
            let message = inner.to_string();
            ApiError::invalid(vec![FieldError::new(
                field_named_in(&message).unwrap_or_else(|| "body".into()),
                strip_position(&message),
            )])
        }
        JsonPayloadError::Deserialize(inner) => ApiError::bad_request(format!(
            "Malformed JSON: {}",
            strip_position(&inner.to_string())
        )),
        _ => ApiError::bad_request("The request body could not be read."),
    };
    api.into()
}

/// serde names a missing or unknown field in back-ticks ("unknown field `roles`"); other
/// messages put the offending *value* there ("invalid type: floating point `1.5`"), which is
/// never a field name.
fn field_named_in(message: &str) -> Option<String> {
    let rest = ["missing field `", "unknown field `", "duplicate field `"]
        .iter()
        .find_map(|prefix| message.find(prefix).map(|at| at + prefix.len()))
        .and_then(|start| message.get(start..))?;
    rest.split_once('`').map(|(name, _)| name.to_owned())
}

/// A deserialiser's message as a client may see it: without the position serde_json appends,
/// and without the submitted value (a password sent as a number must not come back in the
/// problem, nor reach a log line through it).
pub(crate) fn strip_position(message: &str) -> String {
    let message = match message.rfind(" at line ") {
        Some(index) => message.get(..index).unwrap_or(message),
        None => message,
    };
    without_value(message)
}

/// serde puts the offending value right after these openings ("invalid type: integer `5`,
/// expected a string", "unknown variant `x`, expected one of …"); the value goes, the kind and
/// what was expected stay. Other parsers' messages lose anything they quote in back-ticks or
/// double quotes, except the names of missing, unknown or duplicate fields.
pub(crate) fn without_value(message: &str) -> String {
    for opening in [
        "invalid type: ",
        "invalid value: ",
        "invalid length ",
        "unknown variant ",
    ] {
        if let Some(rest) = message.strip_prefix(opening) {
            let expected = rest
                .rfind(", expected")
                .and_then(|at| rest.get(at..))
                .unwrap_or("");
            let kind = rest
                .split(['`', '"'])
                .next()
                .unwrap_or("")
                .trim_end()
                .trim_end_matches(',');
            let head = opening.trim_end();
            let gap = if kind.is_empty() { "" } else { " " };
            return format!("{head}{gap}{kind}{expected}");
        }
    }
    if ["missing field `", "unknown field `", "duplicate field `"]
        .iter()
        .any(|prefix| message.starts_with(prefix))
    {
        return message.to_owned();
    }
    let mut out = String::with_capacity(message.len());
    let mut quote: Option<char> = None;
    for c in message.chars() {
        match (quote, c) {
            (None, '`' | '"') => quote = Some(c),
            (Some(open), _) if c == open => quote = None,
            (Some(_), _) => {}
            (None, _) => out.push(c),
        }
    }
    out.replace("  ", " ").trim().to_owned()
}

pub fn query_error(error: QueryPayloadError, _req: &HttpRequest) -> actix_web::Error {
    let message = error.to_string();
    let field = field_named_in(&message).unwrap_or_else(|| "query".into());
    ApiError::Validation {
        status: StatusCode::BAD_REQUEST,
        detail: format!("Invalid query parameter: {message}"),
        errors: vec![FieldError::new(field, message)],
    }
    .into()
}

/// The input field behind a foreign key that keeps rows inside their group (migration
/// 000006), so that a refused reference names what the client sent.
fn referring_field(constraint: &str) -> Option<&'static str> {
    Some(match constraint {
        "companies_parent_same_group" => "parent_id",
        "employees_company_same_group" => "company_id",
        "employees_tier_same_group" | "tier_category_discounts_tier_same_group" => "tier_id",
        "products_seller_same_group" | "orders_seller_same_group" => "seller_company_id",
        "products_category_same_group" | "tier_category_discounts_category_same_group" => {
            "category_id"
        }
        "order_lines_product_same_group" | "purchase_limit_usage_product_same_group" => {
            "product_id"
        }
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::without_value;

    #[test]
    fn problems_never_echo_the_submitted_value() {
        assert_eq!(
            without_value("invalid type: integer `123456`, expected a string"),
            "invalid type: integer, expected a string"
        );
        assert_eq!(
            without_value("invalid value: string \"hunter2, expected x\", expected a date"),
            "invalid value: string, expected a date"
        );
        assert_eq!(
            without_value("unknown variant `s3cret`, expected one of `a`, `b`"),
            "unknown variant, expected one of `a`, `b`"
        );
        assert_eq!(
            without_value("unknown field `roles`, expected one of `a`"),
            "unknown field `roles`, expected one of `a`"
        );
        assert_eq!(
            without_value("UUID parsing failed: found `z` at 1"),
            "UUID parsing failed: found at 1"
        );
    }
    use super::*;

    #[test]
    fn a_lost_connection_is_unavailable_never_a_500() {
        let lost = [
            DieselError::DatabaseError(
                DatabaseErrorKind::UnableToSendCommand,
                Box::new(
                    "error communicating with the server: Connection reset by peer (os error 104)"
                        .to_owned(),
                ),
            ),
            DieselError::DatabaseError(
                DatabaseErrorKind::ClosedConnection,
                Box::new("connection closed".to_owned()),
            ),
            DieselError::DatabaseError(
                DatabaseErrorKind::Unknown,
                Box::new("terminating connection due to administrator command".to_owned()),
            ),
            DieselError::BrokenTransactionManager,
            DieselError::DatabaseError(DatabaseErrorKind::Unknown, Box::new(DEADLOCK.to_owned())),
        ];
        for error in lost {
            let shown = format!("{error:?}");
            assert!(
                matches!(ApiError::from(error), ApiError::Unavailable(_)),
                "{shown}"
            );
        }
    }

    #[test]
    fn field_is_extracted_from_serde_messages() {
        assert_eq!(
            field_named_in("unknown field `roles`, expected one of `email`").as_deref(),
            Some("roles")
        );
        assert_eq!(
            field_named_in("missing field `email`").as_deref(),
            Some("email")
        );
        assert_eq!(field_named_in("expected a string"), None);
        assert_eq!(
            field_named_in("invalid type: floating point `1.5`, expected i64"),
            None
        );
    }

    #[test]
    fn internal_errors_do_not_leak_their_cause() {
        let error = ApiError::internal("SELECT secret FROM users failed");
        let body = serde_json::to_string(&error.to_problem()).unwrap_or_default();
        assert!(!body.contains("SELECT"));
        assert!(body.contains("internal_error"));
    }

    #[test]
    fn rule_errors_keep_status_and_code() {
        let error = ApiError::conflict("insufficient_stock", "only 2 left");
        assert_eq!(error.status_code(), StatusCode::CONFLICT);
        let problem = error.to_problem();
        assert_eq!(problem.code, "insufficient_stock");
        assert_eq!(problem.status, 409);
    }
}
