//! Access tokens: HS256 JWTs with `exp`, `iat`, `iss`, `aud`, `sub` required and checked.
//! The algorithm is pinned: a token whose header names another algorithm (or `none`) is refused.
//! A token also carries its employee's credential version (`ver`), which the request compares
//! with the employee it loads (see `auth`); `iat` or `nbf` in the future (beyond the 5 s of
//! leeway) and a lifetime (`exp - iat`) longer than the configured one are refused.

use std::time::Duration;

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::config::JwtSettings;
use crate::ids::EmployeeId;

#[derive(Debug, Serialize, Deserialize)]
pub struct Claims {
    pub sub: Uuid,
    pub iat: i64,
    pub exp: i64,
    pub iss: String,
    pub aud: String,
    /// The employee's credential version when the token was issued.
    pub ver: i32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<i64>,
}

/// What a valid token says: who, and under which credential version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verified {
    pub subject: EmployeeId,
    pub version: i32,
}

/// Clock skew tolerated on `exp`, `iat` and `nbf`, in seconds.
const LEEWAY: i64 = 5;

pub struct TokenKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    issuer: String,
    audience: String,
    pub ttl: Duration,
}

impl TokenKeys {
    /// The token lifetime in seconds (configuration bounds it to a day).
    fn ttl_seconds(&self) -> i64 {
        i64::try_from(self.ttl.as_secs()).unwrap_or(i64::MAX)
    }

    pub fn new(settings: &JwtSettings) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_required_spec_claims(&["exp", "iat", "iss", "aud", "sub"]);
        validation.set_issuer(&[&settings.issuer]);
        validation.set_audience(&[&settings.audience]);
        // Short-lived tokens: allow only a little clock skew.
        validation.leeway = LEEWAY.unsigned_abs();
        validation.validate_nbf = true;
        Self {
            encoding: EncodingKey::from_secret(&settings.secret),
            decoding: DecodingKey::from_secret(&settings.secret),
            validation,
            issuer: settings.issuer.clone(),
            audience: settings.audience.clone(),
            ttl: settings.ttl,
        }
    }

    pub fn issue(&self, subject: EmployeeId, version: i32) -> anyhow::Result<String> {
        let now = crate::clock::wall_time().timestamp();
        let claims = Claims {
            sub: subject.uuid(),
            iat: now,
            exp: now.saturating_add(self.ttl_seconds()),
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            ver: version,
            nbf: None,
        };
        Ok(jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &self.encoding,
        )?)
    }

    /// The subject and version of a valid token; `None` for anything else (the reason is not
    /// the client's business).
    pub fn verify(&self, token: &str) -> Option<Verified> {
        let claims = match jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation) {
            Ok(data) => data.claims,
            Err(error) => {
                tracing::debug!(kind = ?error.kind(), "token refused");
                return None;
            }
        };
        let now = crate::clock::wall_time().timestamp();
        let issued_in_future = claims.iat > now.saturating_add(LEEWAY);
        let lives_too_long = claims.exp.saturating_sub(claims.iat) > self.ttl_seconds();
        if issued_in_future || lives_too_long {
            tracing::debug!(issued_in_future, lives_too_long, "token refused");
            return None;
        }
        Some(Verified {
            subject: claims.sub.into(),
            version: claims.ver,
        })
    }
}
