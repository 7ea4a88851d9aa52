//! `Idempotency-Key` handling: the key is scoped to the caller. It is claimed (a
//! transaction-scoped advisory lock) and its response stored in the transaction that writes:
//! by the very statement that writes an employee order (see `orders::placement`), and by
//! [`Once::run`] for every other write that takes a key (read with [`Keyed`]), so a key and its
//! effect commit together.

use std::future::{ready, Future, Ready};
use std::pin::Pin;
use std::time::Duration;

use actix_web::dev::Payload;
use actix_web::http::StatusCode;
use actix_web::{FromRequest, HttpRequest, HttpResponse};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Bool, Integer, Jsonb, Text, Uuid as SqlUuid};
use diesel_async::{AsyncConnection as _, AsyncPgConnection, RunQueryDsl};
use serde::de::DeserializeOwned;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::body::Body;
use crate::db::statement::statement;
use crate::db::DbPool;
use crate::error::ApiError;
use crate::ids::EmployeeId;
use crate::write::WriteFn;

/// Keys are kept at least this long (they are swept after twice that).
pub const RETENTION: Duration = Duration::from_secs(24 * 3600);

#[derive(Debug, Clone)]
pub struct IdempotencyKey(pub String);

/// The `Idempotency-Key` header as read, its problem kept until the handler asks for it, so
/// that a caller without the operation's role gets 403 before learning that the header is
/// required (as [`crate::body::Body`] does for bodies).
pub struct IdempotencyHeader(Result<IdempotencyKey, ApiError>);

impl IdempotencyHeader {
    /// The key, or 400 when it is missing or not 1–255 visible ASCII characters.
    pub fn into_key(self) -> Result<IdempotencyKey, ApiError> {
        self.0
    }
}

impl FromRequest for IdempotencyHeader {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(Ok(Self(parse_header(req).unwrap_or_else(|| {
            Err(ApiError::bad_field("Idempotency-Key", "header is required"))
        }))))
    }
}

/// The `Idempotency-Key` header if one was sent: the key, or 400 when it is not 1–255 visible
/// ASCII characters.
fn parse_header(req: &HttpRequest) -> Option<Result<IdempotencyKey, ApiError>> {
    let value = req.headers().get("idempotency-key")?;
    Some(match value.to_str() {
        Ok(key) if (1..=255).contains(&key.len()) && key.bytes().all(|b| b.is_ascii_graphic()) => {
            Ok(IdempotencyKey(key.to_owned()))
        }
        _ => Err(ApiError::bad_field(
            "Idempotency-Key",
            "must be 1–255 visible ASCII characters (no spaces)",
        )),
    })
}

/// An optional `Idempotency-Key` (every POST that creates something or moves money or stock
/// takes one); its problem, when malformed, kept until the handler asks for it.
struct OptionalKey(Option<Result<IdempotencyKey, ApiError>>);

impl OptionalKey {
    /// The key if one was sent, or 400 when it is not 1–255 visible ASCII characters.
    pub fn into_key(self) -> Result<Option<IdempotencyKey>, ApiError> {
        self.0.transpose()
    }
}

impl FromRequest for OptionalKey {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(Ok(Self(parse_header(req))))
    }
}

/// The body of a POST that creates something or moves money or stock, with its optional
/// `Idempotency-Key`: both read together, their problems kept until the handler asks (after
/// its role check), the body's first.
pub struct Keyed<T> {
    key: OptionalKey,
    body: Body<T>,
}

impl<T> Keyed<T> {
    /// The body, and the guard that runs the write once per key for the operation `scope`.
    pub fn parse(self, scope: &'static str) -> Result<(T, Once), ApiError>
    where
        T: Serialize,
    {
        self.parse_by(scope, |body| request_hash(body))
    }

    /// As [`Keyed::parse`], for an operation on the resource `at` (its path's id): the same
    /// body under the same key at another resource is another request (422).
    pub fn parse_at(self, scope: &'static str, at: &impl Serialize) -> Result<(T, Once), ApiError>
    where
        T: Serialize,
    {
        self.parse_by(scope, |body| request_hash(&(at, body)))
    }

    /// As [`Keyed::parse`], the request identified by `hash` of the body (one holding a secret
    /// leaves it out).
    pub fn parse_by(
        self,
        scope: &'static str,
        hash: impl FnOnce(&T) -> String,
    ) -> Result<(T, Once), ApiError> {
        let body = self.body.into_inner()?;
        let key = self.key.into_key()?;
        let hash = hash(&body);
        Ok((body, Once { key, scope, hash }))
    }
}

impl<T: DeserializeOwned + 'static> FromRequest for Keyed<T> {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let key = OptionalKey(parse_header(req));
        let body = Body::<T>::from_request(req, payload);
        Box::pin(async move {
            Ok(Self {
                key,
                body: body.await?,
            })
        })
    }
}

/// A write to be run at most once per key: see [`Once::run`].
pub struct Once {
    key: Option<IdempotencyKey>,
    scope: &'static str,
    hash: String,
}

impl Once {
    /// A guard for a key the handler read itself (a creation that requires one).
    pub fn required(key: IdempotencyKey, scope: &'static str, hash: String) -> Self {
        Self {
            key: Some(key),
            scope,
            hash,
        }
    }

    /// Runs `write` (which answers a status and a JSON body) at most once per key of
    /// `employee` for this operation and request: with a key, the claim, the write and the
    /// stored answer are one transaction, and the same key and body later replay the answer
    /// (`Idempotency-Replay: true`); another body under the key → 422; the key in use → 409.
    /// Without a key the write simply runs.
    pub async fn run<W>(
        self,
        conn: &mut AsyncPgConnection,
        employee: EmployeeId,
        write: W,
    ) -> Result<HttpResponse, ApiError>
    where
        W: for<'c> WriteFn<'c, Result<(StatusCode, serde_json::Value), ApiError>> + Send,
    {
        let Once { key, scope, hash } = self;
        let Some(key) = key else {
            let (status, body) = write(conn).await?;
            return Ok(HttpResponse::build(status).json(body));
        };
        let answer = conn
            .transaction::<_, ApiError, _>(async move |conn| {
                let claim: Claimed =
                    statement("SELECT pg_try_advisory_xact_lock(hashtextextended($1, 0)) AS claimed")
                        .bind::<Text, _>(lock_name(employee, &key))
                        .get_result(conn)
                        .await?;
                if !claim.claimed {
                    return Err(in_progress());
                }
                let stored: Option<StoredRow> = statement(
                    "SELECT scope, request_hash, response_status, response_body FROM idempotency_keys \
                     WHERE employee_id = $1 AND key = $2",
                )
                .bind::<SqlUuid, _>(employee)
                .bind::<Text, _>(&key.0)
                .get_result(conn)
                .await
                .optional()?;
                let existing =
                    stored.map(|s| (s.scope, s.request_hash, s.response_status, s.response_body));
                if let Some(replay) = decide(existing, scope, &hash)? {
                    return Ok((replay.status, replay.body, true));
                }
                let (status, body) = write(conn).await?;
                statement(concat!(
                    crate::store_answer!(),
                    " VALUES ($1, $2, $3, $4, $5, $6)"
                ))
                .bind::<SqlUuid, _>(employee)
                .bind::<Text, _>(&key.0)
                .bind::<Text, _>(scope)
                .bind::<Text, _>(&hash)
                .bind::<Integer, _>(i32::from(status.as_u16()))
                .bind::<Jsonb, _>(&body)
                .execute(conn)
                .await?;
                Ok((status.as_u16(), body, false))
            })
            .await?;
        let (status, body, replayed) = answer;
        let mut response =
            HttpResponse::build(StatusCode::from_u16(status).unwrap_or(StatusCode::OK));
        if replayed {
            response.insert_header(("Idempotency-Replay", "true"));
        }
        Ok(response.json(body))
    }
}

#[derive(QueryableByName)]
struct Claimed {
    #[diesel(sql_type = Bool)]
    claimed: bool,
}

#[derive(QueryableByName)]
struct StoredRow {
    #[diesel(sql_type = Text)]
    scope: String,
    #[diesel(sql_type = Text)]
    request_hash: String,
    #[diesel(sql_type = Integer)]
    response_status: i32,
    #[diesel(sql_type = Jsonb)]
    response_body: serde_json::Value,
}

/// The head of the one statement that stores an answer under a key: `INSERT` into the keys'
/// table with the columns (employee, key, scope, request hash, status, body), in that order.
/// This module is the only writer of that table; a write made in one statement of its own
/// (`orders::placement`) stores its answer with this head, followed by its own `SELECT`.
#[macro_export]
macro_rules! store_answer {
    () => {
        "INSERT INTO idempotency_keys (employee_id, key, scope, request_hash, response_status, \
         response_body)"
    };
}

pub fn request_hash(body: &impl serde::Serialize) -> String {
    let bytes = serde_json::to_vec(body).unwrap_or_default();
    format!("{:x}", Sha256::digest(bytes))
}

/// A response stored under a key.
pub struct Stored {
    pub status: u16,
    pub body: serde_json::Value,
}

/// The name of the transaction-scoped advisory lock that claims `key` for one request.
pub fn lock_name(employee: EmployeeId, key: &IdempotencyKey) -> String {
    format!("{employee}:{}", key.0)
}

pub fn in_progress() -> ApiError {
    ApiError::conflict(
        "request_in_progress",
        "a request with this Idempotency-Key is still being processed",
    )
}

/// Decides what to do with a request given the `(scope, request hash, status, body)` stored
/// under its key: `Ok(Some)` replays, `Ok(None)` runs the request; another request under the
/// same key → 422. (A request still running under the key is caught when the key is claimed.)
pub fn decide(
    existing: Option<(String, String, i32, serde_json::Value)>,
    scope: &str,
    hash: &str,
) -> Result<Option<Stored>, ApiError> {
    match existing {
        Some((stored_scope, stored_hash, status, body))
            if stored_scope == scope && stored_hash == hash =>
        {
            Ok(Some(Stored {
                status: u16::try_from(status).unwrap_or(200),
                body,
            }))
        }
        Some(_) => Err(ApiError::unprocessable(
            "idempotency_key_reused",
            "this Idempotency-Key was already used with a different request",
        )),
        None => Ok(None),
    }
}

#[derive(QueryableByName)]
struct Deleted {
    #[diesel(sql_type = BigInt)]
    count: i64,
}

/// Sweeps keys older than twice the retention once an hour.
pub fn spawn_sweeper(pool: DbPool) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(3600));
        loop {
            tick.tick().await;
            let Ok(mut conn) = pool.get().await else {
                continue;
            };
            let swept: Result<Deleted, _> = diesel::sql_query(
                "WITH gone AS (DELETE FROM idempotency_keys WHERE created_at < now() - make_interval(secs => $1) RETURNING 1) \
                 SELECT count(*) AS count FROM gone",
            )
            .bind::<diesel::sql_types::Double, _>(2.0 * RETENTION.as_secs_f64())
            .get_result(&mut conn)
            .await;
            if let Ok(Deleted { count }) = swept {
                tracing::debug!(count, "swept old idempotency keys");
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored(scope: &str, hash: &str) -> Option<(String, String, i32, serde_json::Value)> {
        Some((
            scope.to_owned(),
            hash.to_owned(),
            201,
            serde_json::json!({"id": 1}),
        ))
    }

    #[test]
    fn the_same_request_replays_and_another_is_refused() {
        let replay = decide(stored("POST /orders", "h1"), "POST /orders", "h1");
        assert!(matches!(replay, Ok(Some(Stored { status: 201, .. }))));
        let other_body = decide(stored("POST /orders", "h1"), "POST /orders", "h2");
        assert!(matches!(
            other_body,
            Err(ApiError::Rule {
                code: "idempotency_key_reused",
                ..
            })
        ));
        let other_operation = decide(stored("POST /other", "h1"), "POST /orders", "h1");
        assert!(other_operation.is_err());
        assert!(matches!(decide(None, "POST /orders", "h1"), Ok(None)));
    }
}

/// The optional `Idempotency-Key` header of a POST that creates something or moves money or
/// stock, declared once for the OpenAPI document (`params(OptionalKeyParam)`); the handlers
/// read it through [`Keyed`].
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Header)]
#[allow(dead_code)] // only its type is used: it declares the header in the document
pub struct OptionalKeyParam {
    /// Optional: the same key and body replay the first answer; nothing is done twice
    #[param(
        rename = "Idempotency-Key",
        min_length = 1,
        max_length = 255,
        pattern = r"^[!-~]+$"
    )]
    pub idempotency_key: Option<String>,
}

/// The required `Idempotency-Key` header of an order's creation, declared once for the
/// OpenAPI document (`params(RequiredKeyParam)`).
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Header)]
#[allow(dead_code)] // only its type is used: it declares the header in the document
pub struct RequiredKeyParam {
    /// 1–255 visible ASCII characters, unique per intended order
    #[param(
        rename = "Idempotency-Key",
        min_length = 1,
        max_length = 255,
        pattern = r"^[!-~]+$"
    )]
    pub idempotency_key: String,
}
