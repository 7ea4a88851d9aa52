//! Configuration read from the environment once at start, validated with messages that name
//! the offending variable. Every variable is documented in `.env.example` and the README.

use std::collections::HashMap;
use std::time::Duration;

/// A configuration problem, naming the variable.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration: {var}: {message}")]
pub struct ConfigError {
    pub var: &'static str,
    pub message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Pretty,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Environment {
    Development,
    Production,
}

#[derive(Clone)]
pub struct JwtSettings {
    /// HMAC key (HS256). Never logged: `Debug` is implemented by hand below.
    pub secret: Vec<u8>,
    pub issuer: String,
    pub audience: String,
    pub ttl: Duration,
}

impl std::fmt::Debug for JwtSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtSettings")
            .field("secret", &"<redacted>")
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .field("ttl", &self.ttl)
            .finish()
    }
}

#[derive(Debug, Clone)]
pub struct PoolSettings {
    pub max_size: usize,
    pub wait_timeout: Duration,
    pub create_timeout: Duration,
    pub recycle_timeout: Duration,
    /// A connection older than this is closed instead of reused, so server-side state that
    /// only grows or ages (cached plans, backend memory) is renewed.
    pub max_lifetime: Duration,
    /// Per-statement and lock-wait limit on pooled connections: a request never waits on the
    /// database longer than this.
    pub statement_timeout: Duration,
}

#[derive(Debug, Clone)]
pub struct LoginThrottle {
    /// Failures counted per fixed window; the window also bounds how long a lock lasts.
    pub window: Duration,
    pub max_failures_per_account: i32,
    pub max_failures_per_address: i32,
}

#[derive(Debug, Clone)]
pub struct Settings {
    pub environment: Environment,
    /// `None`: use the local default (see `db::locate`).
    pub database_url: Option<String>,
    pub bind: String,
    pub log_format: LogFormat,
    pub jwt: JwtSettings,
    pub pool: PoolSettings,
    pub body_limit: usize,
    pub login_throttle: LoginThrottle,
    pub password_hash_concurrency: usize,
    /// HTTP worker threads (tests use fewer to stay light).
    pub workers: usize,
    /// Oldest stock and purchase-limit figures a cached catalog page may show
    /// (`Duration::ZERO`: no listing cache). See `catalog::cache`.
    pub listing_cache_ttl: Duration,
}

impl Settings {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|key| std::env::var(key).ok())
    }

    /// Reads settings through `lookup`, so tests can supply a map instead of the process environment.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |key: &str| lookup(key).filter(|v| !v.trim().is_empty());
        let environment = match get("APP_ENV").as_deref() {
            None | Some("development") => Environment::Development,
            Some("production") => Environment::Production,
            Some(other) => {
                return Err(ConfigError {
                    var: "APP_ENV",
                    message: format!("expected `development` or `production`, got `{other}`"),
                })
            }
        };
        let log_format = match get("LOG_FORMAT").as_deref() {
            None | Some("pretty") => LogFormat::Pretty,
            Some("json") => LogFormat::Json,
            Some(other) => {
                return Err(ConfigError {
                    var: "LOG_FORMAT",
                    message: format!("expected `json` or `pretty`, got `{other}`"),
                })
            }
        };
        let secret = match get("JWT_SECRET") {
            Some(secret) if secret.len() >= 32 => secret.into_bytes(),
            Some(_) => {
                return Err(ConfigError {
                    var: "JWT_SECRET",
                    message: "must be at least 32 bytes".into(),
                })
            }
            None if environment == Environment::Production => {
                return Err(ConfigError {
                    var: "JWT_SECRET",
                    message: "is required when APP_ENV=production".into(),
                })
            }
            // Development without a secret: a random one per process (tokens end with it).
            None => {
                let bytes: [u8; 32] = rand::random();
                bytes.to_vec()
            }
        };
        let bind = get("BIND").unwrap_or_else(|| "127.0.0.1:8080".into());
        if bind.parse::<std::net::SocketAddr>().is_err() && !bind.contains(':') {
            return Err(ConfigError {
                var: "BIND",
                message: format!("expected host:port, got `{bind}`"),
            });
        }
        let cpus = std::thread::available_parallelism().map_or(2, usize::from);
        Ok(Self {
            environment,
            database_url: get("DATABASE_URL"),
            bind,
            log_format,
            jwt: JwtSettings {
                secret,
                issuer: get("JWT_ISSUER").unwrap_or_else(|| "internal-store".into()),
                audience: get("JWT_AUDIENCE").unwrap_or_else(|| "internal-store-api".into()),
                ttl: Duration::from_secs(number(&get, "JWT_TTL_SECS", 900, 30, 86_400)?),
            },
            pool: PoolSettings {
                max_size: number(&get, "DB_POOL_MAX_SIZE", 16, 1, 1000)? as usize,
                wait_timeout: millis(&get, "DB_POOL_WAIT_TIMEOUT_MS", 2_000)?,
                create_timeout: millis(&get, "DB_POOL_CREATE_TIMEOUT_MS", 2_000)?,
                recycle_timeout: millis(&get, "DB_POOL_RECYCLE_TIMEOUT_MS", 1_000)?,
                max_lifetime: Duration::from_secs(number(
                    &get,
                    "DB_POOL_MAX_LIFETIME_SECS",
                    1_800,
                    1,
                    86_400,
                )?),
                statement_timeout: millis(&get, "DB_STATEMENT_TIMEOUT_MS", 10_000)?,
            },
            body_limit: number(&get, "BODY_LIMIT_BYTES", 256 * 1024, 1024, 64 * 1024 * 1024)?
                as usize,
            login_throttle: LoginThrottle {
                window: Duration::from_secs(number(
                    &get,
                    "LOGIN_THROTTLE_WINDOW_SECS",
                    900,
                    1,
                    86_400,
                )?),
                max_failures_per_account: number(
                    &get,
                    "LOGIN_MAX_FAILURES_PER_ACCOUNT",
                    10,
                    1,
                    10_000,
                )? as i32,
                max_failures_per_address: number(
                    &get,
                    "LOGIN_MAX_FAILURES_PER_ADDRESS",
                    100,
                    1,
                    100_000,
                )? as i32,
            },
            password_hash_concurrency: number(
                &get,
                "PASSWORD_HASH_CONCURRENCY",
                cpus.saturating_sub(1).max(1) as u64,
                1,
                256,
            )? as usize,
            workers: number(&get, "HTTP_WORKERS", cpus as u64, 1, 256)? as usize,
            listing_cache_ttl: Duration::from_millis(number(
                &get,
                "LISTING_CACHE_TTL_MS",
                1_000,
                0,
                60_000,
            )?),
        })
    }

    /// Settings from a literal map; convenient for tests and tools.
    pub fn from_map(map: &HashMap<&str, String>) -> Result<Self, ConfigError> {
        Self::from_lookup(|key| map.get(key).cloned())
    }
}

fn number(
    get: &impl Fn(&str) -> Option<String>,
    var: &'static str,
    default: u64,
    min: u64,
    max: u64,
) -> Result<u64, ConfigError> {
    let Some(raw) = get(var) else {
        return Ok(default);
    };
    match raw.trim().parse::<u64>() {
        Ok(value) if (min..=max).contains(&value) => Ok(value),
        _ => Err(ConfigError {
            var,
            message: format!("expected an integer between {min} and {max}, got `{raw}`"),
        }),
    }
}

fn millis(
    get: &impl Fn(&str) -> Option<String>,
    var: &'static str,
    default: u64,
) -> Result<Duration, ConfigError> {
    number(get, var, default, 10, 600_000).map(Duration::from_millis)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_apply_in_development() {
        let settings = Settings::from_map(&HashMap::new()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(settings.bind, "127.0.0.1:8080");
        assert_eq!(settings.body_limit, 256 * 1024);
        assert_eq!(settings.jwt.secret.len(), 32);
        assert!(settings.database_url.is_none());
    }

    #[test]
    fn bad_values_name_the_variable() {
        let map = HashMap::from([("DB_POOL_MAX_SIZE", "lots".to_string())]);
        let error = Settings::from_map(&map).err().map(|e| e.var);
        assert_eq!(error, Some("DB_POOL_MAX_SIZE"));
        let map = HashMap::from([("JWT_SECRET", "short".to_string())]);
        assert_eq!(
            Settings::from_map(&map).err().map(|e| e.var),
            Some("JWT_SECRET")
        );
        let map = HashMap::from([("APP_ENV", "production".to_string())]);
        assert_eq!(
            Settings::from_map(&map).err().map(|e| e.var),
            Some("JWT_SECRET")
        );
    }

    #[test]
    fn the_listing_cache_age_is_bounded_and_can_be_turned_off() {
        let ttl = |value: &str| {
            Settings::from_map(&HashMap::from([(
                "LISTING_CACHE_TTL_MS",
                value.to_string(),
            )]))
            .map(|s| s.listing_cache_ttl)
            .map_err(|e| e.var)
        };
        assert_eq!(
            Settings::from_map(&HashMap::new())
                .map(|s| s.listing_cache_ttl)
                .ok(),
            Some(Duration::from_secs(1))
        );
        assert_eq!(ttl("0"), Ok(Duration::ZERO));
        assert_eq!(ttl("250"), Ok(Duration::from_millis(250)));
        assert_eq!(ttl("60001"), Err("LISTING_CACHE_TTL_MS"));
        assert_eq!(ttl("-1"), Err("LISTING_CACHE_TTL_MS"));
    }

    #[test]
    fn secret_is_never_debug_printed() {
        let map = HashMap::from([("JWT_SECRET", "s".repeat(40))]);
        let settings = Settings::from_map(&map).unwrap_or_else(|e| panic!("{e}"));
        assert!(!format!("{settings:?}").contains("ssss"));
    }
}
