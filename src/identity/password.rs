//! Password hashing with Argon2id (OWASP parameters: m=19456 KiB, t=2, p=1), run on the
//! blocking pool behind a semaphore so that a burst of logins cannot starve other requests.

use std::fmt;
use std::sync::Arc;

use argon2::password_hash::PasswordVerifier as _;
use argon2::{Algorithm, Argon2, Params, PasswordHasher as _, Version};
use serde::Deserialize;
use tokio::sync::{OnceCell, Semaphore};

use crate::error::{ApiError, FieldError};

/// A password in transit. `Debug` never shows it.
#[derive(Clone, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// Its length in characters.
    pub fn length(&self) -> usize {
        self.0.chars().count()
    }

    /// The password rules for new passwords: 12 to 1024 characters.
    pub fn validate_new(&self, field: &str) -> Result<(), FieldError> {
        let length = self.0.chars().count();
        if length < 12 {
            Err(FieldError::new(field, "must be at least 12 characters"))
        } else if length > 1024 {
            Err(FieldError::new(field, "must be at most 1024 characters"))
        } else {
            Ok(())
        }
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

fn argon2() -> Argon2<'static> {
    // Spelled out rather than relying on the crate's defaults, which could change.
    let params = Params::new(19_456, 2, 1, None).unwrap_or(Params::DEFAULT);
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

fn hash_blocking(password: &str) -> anyhow::Result<String> {
    argon2()
        .hash_password(password.as_bytes())
        .map(|hash| hash.to_string())
        .map_err(|e| anyhow::anyhow!("hashing a password: {e}"))
}

#[derive(Clone)]
pub struct PasswordHasher {
    permits: Arc<Semaphore>,
    /// Verified against when the email is unknown, so both failures cost the same time.
    dummy: Arc<OnceCell<String>>,
}

impl PasswordHasher {
    pub fn new(concurrency: usize) -> Self {
        Self {
            permits: Arc::new(Semaphore::new(concurrency.max(1))),
            dummy: Arc::new(OnceCell::new()),
        }
    }

    async fn off_executor<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, ApiError> {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| ApiError::internal("password hasher closed"))?;
        tokio::task::spawn_blocking(work)
            .await
            .map_err(|e| ApiError::Internal(anyhow::anyhow!("hashing task failed: {e}")))
    }

    pub async fn hash(&self, password: &Secret) -> Result<String, ApiError> {
        let password = password.0.clone();
        self.off_executor(move || hash_blocking(&password))
            .await?
            .map_err(ApiError::Internal)
    }

    /// Checks `password` against `stored`, or against a dummy hash when there is none.
    pub async fn verify(
        &self,
        password: &Secret,
        stored: Option<String>,
    ) -> Result<bool, ApiError> {
        let known = stored.is_some();
        let hash = match stored {
            Some(hash) => hash,
            None => self
                .dummy
                .get_or_try_init(|| async {
                    let random = format!("{:032x}", rand::random::<u128>());
                    self.off_executor(move || hash_blocking(&random))
                        .await?
                        .map_err(ApiError::Internal)
                })
                .await?
                .clone(),
        };
        let password = password.0.clone();
        let matches = self
            .off_executor(move || {
                argon2()
                    .verify_password(password.as_bytes(), hash.as_str())
                    .is_ok()
            })
            .await?;
        Ok(known && matches)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_argon2id_with_owasp_parameters() {
        let hash = hash_blocking("correct horse battery").unwrap_or_default();
        assert!(
            hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{hash}"
        );
        assert!(argon2()
            .verify_password(b"correct horse battery", hash.as_str())
            .is_ok());
        assert!(argon2()
            .verify_password(b"wrong horse battery", hash.as_str())
            .is_err());
    }

    #[test]
    fn short_passwords_are_refused() {
        assert!(Secret::new("elevenchars").validate_new("password").is_err());
        assert!(Secret::new("twelve chars").validate_new("password").is_ok());
        assert_eq!(
            format!("{:?}", Secret::new("hunter2hunter2")),
            "Secret(<redacted>)"
        );
    }
}
