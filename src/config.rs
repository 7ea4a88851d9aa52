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

/// Failed-login throttling (§3; the numbers are in docs/SECURITY.md). No limit here is a
/// lockout that one address can aim at an account's owner.
#[derive(Debug, Clone)]
pub struct LoginThrottle {
    /// Failures counted per fixed window; the window also bounds how long a block lasts.
    pub window: Duration,
    /// Failures for one account *from one address* before that address gets 429 for that
    /// account (the owner elsewhere is not affected).
    pub max_failures_per_account_address: i32,
    /// Failures from one address, over all accounts, before it gets 429.
    pub max_failures_per_address: i32,
    /// Distinct addresses failing on one account within `spread_window` that put the
    /// account under a per-account pace (guessing from many addresses).
    pub spread_addresses: i32,
    pub spread_window: Duration,
    /// Under that pace, one attempt per `pace` for the account; others get 429.
    pub pace: Duration,
}

#[derive(Debug, Clone)]
pub struct Settings {
    pub environment: Environment,
    /// `None`: use the local default (see `db::locate`).
    pub database_url: Option<String>,
    /// Streaming replicas that listings and reports read from (`DATABASE_READ_URLS`,
    /// comma-separated); see `db::replicas`.
    pub read_urls: Vec<String>,
    /// How far behind the primary a replica may be and still serve reads (`READ_MAX_LAG`,
    /// seconds).
    pub read_max_lag: Duration,
    /// How often each replica's lag is checked (`READ_LAG_CHECK_MS`).
    pub read_check_interval: Duration,
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
    /// Peers whose `X-Forwarded-For` is believed (`TRUSTED_PROXIES`); see `http::client_ip`.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// Exact origins a browser front-end may call from (`CORS_ALLOWED_ORIGINS`).
    pub cors_allowed_origins: Vec<String>,
    /// When set, `/metrics` requires it as a bearer token (`METRICS_TOKEN`).
    pub metrics_token: Option<MetricsToken>,
}

/// The bearer token `/metrics` requires; never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct MetricsToken(pub String);

impl std::fmt::Debug for MetricsToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

impl Settings {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|key| std::env::var(key).ok())
    }

    /// Reads settings through `lookup`, so tests can supply a map instead of the process
    /// environment.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |key: &str| lookup(key).filter(|v| !v.trim().is_empty());
        let environment = environment(&get)?;
        let cpus = std::thread::available_parallelism().map_or(2, usize::from);
        Ok(Self {
            environment,
            database_url: get("DATABASE_URL"),
            read_urls: read_urls(get("DATABASE_READ_URLS"))?,
            read_max_lag: Duration::from_secs(number(&get, "READ_MAX_LAG", 5, 1, 3_600)?),
            read_check_interval: Duration::from_millis(number(
                &get,
                "READ_LAG_CHECK_MS",
                1_000,
                100,
                60_000,
            )?),
            bind: bind(&get)?,
            log_format: log_format(&get)?,
            jwt: jwt(&get, environment)?,
            pool: pool(&get)?,
            body_limit: size(number(
                &get,
                "BODY_LIMIT_BYTES",
                256 * 1024,
                1024,
                64 * 1024 * 1024,
            )?),
            login_throttle: login_throttle(&get)?,
            password_hash_concurrency: size(number(
                &get,
                "PASSWORD_HASH_CONCURRENCY",
                u64::try_from(cpus.saturating_sub(1).max(1)).unwrap_or(1),
                1,
                256,
            )?),
            workers: size(number(
                &get,
                "HTTP_WORKERS",
                u64::try_from(cpus).unwrap_or(1),
                1,
                256,
            )?),
            listing_cache_ttl: Duration::from_millis(number(
                &get,
                "LISTING_CACHE_TTL_MS",
                1_000,
                0,
                60_000,
            )?),
            trusted_proxies: trusted_proxies(get("TRUSTED_PROXIES"))?,
            cors_allowed_origins: cors_origins(get("CORS_ALLOWED_ORIGINS"))?,
            metrics_token: metrics_token(&get)?,
        })
    }

    /// Settings from a literal map; convenient for tests and tools.
    pub fn from_map(map: &HashMap<&str, String>) -> Result<Self, ConfigError> {
        Self::from_lookup(|key| map.get(key).cloned())
    }
}

/// `APP_ENV`: `development` (the default) or `production`.
fn environment(get: &impl Fn(&str) -> Option<String>) -> Result<Environment, ConfigError> {
    match get("APP_ENV").as_deref() {
        None | Some("development") => Ok(Environment::Development),
        Some("production") => Ok(Environment::Production),
        Some(other) => Err(ConfigError {
            var: "APP_ENV",
            message: format!("expected `development` or `production`, got `{other}`"),
        }),
    }
}

/// `LOG_FORMAT`: `pretty` (the default) or `json`.
fn log_format(get: &impl Fn(&str) -> Option<String>) -> Result<LogFormat, ConfigError> {
    match get("LOG_FORMAT").as_deref() {
        None | Some("pretty") => Ok(LogFormat::Pretty),
        Some("json") => Ok(LogFormat::Json),
        Some(other) => Err(ConfigError {
            var: "LOG_FORMAT",
            message: format!("expected `json` or `pretty`, got `{other}`"),
        }),
    }
}

/// `BIND`: host:port, `127.0.0.1:8080` by default. Refuses the retired
/// `LOGIN_MAX_FAILURES_PER_ACCOUNT` too, read first among the listener's settings.
fn bind(get: &impl Fn(&str) -> Option<String>) -> Result<String, ConfigError> {
    let bind = get("BIND").unwrap_or_else(|| "127.0.0.1:8080".into());
    if bind.parse::<std::net::SocketAddr>().is_err() && !bind.contains(':') {
        return Err(ConfigError {
            var: "BIND",
            message: format!("expected host:port, got `{bind}`"),
        });
    }
    if get("LOGIN_MAX_FAILURES_PER_ACCOUNT").is_some() {
        // Renamed when the per-account limit became per account *and address* (an
        // account-wide limit let anyone lock the owner out); refusing the old name keeps an
        // operator from believing a limit is in force that no longer exists.
        return Err(ConfigError {
            var: "LOGIN_MAX_FAILURES_PER_ACCOUNT",
            message: "was replaced by LOGIN_MAX_FAILURES_PER_ACCOUNT_ADDRESS (failures for \
                      one account from one address); see docs/SECURITY.md"
                .into(),
        });
    }
    Ok(bind)
}

/// The token settings: `JWT_SECRET` (at least 32 bytes; required in production, random per
/// process in development), `JWT_ISSUER`, `JWT_AUDIENCE`, `JWT_TTL_SECS`.
fn jwt(
    get: &impl Fn(&str) -> Option<String>,
    environment: Environment,
) -> Result<JwtSettings, ConfigError> {
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
    Ok(JwtSettings {
        secret,
        issuer: get("JWT_ISSUER").unwrap_or_else(|| "internal-store".into()),
        audience: get("JWT_AUDIENCE").unwrap_or_else(|| "internal-store-api".into()),
        ttl: Duration::from_secs(number(get, "JWT_TTL_SECS", 900, 30, 86_400)?),
    })
}

/// The primary's pool: `DB_POOL_*` and `DB_STATEMENT_TIMEOUT_MS`.
fn pool(get: &impl Fn(&str) -> Option<String>) -> Result<PoolSettings, ConfigError> {
    Ok(PoolSettings {
        max_size: size(number(get, "DB_POOL_MAX_SIZE", 16, 1, 1000)?),
        wait_timeout: millis(get, "DB_POOL_WAIT_TIMEOUT_MS", 2_000)?,
        create_timeout: millis(get, "DB_POOL_CREATE_TIMEOUT_MS", 2_000)?,
        recycle_timeout: millis(get, "DB_POOL_RECYCLE_TIMEOUT_MS", 1_000)?,
        max_lifetime: Duration::from_secs(number(
            get,
            "DB_POOL_MAX_LIFETIME_SECS",
            1_800,
            1,
            86_400,
        )?),
        statement_timeout: millis(get, "DB_STATEMENT_TIMEOUT_MS", 10_000)?,
    })
}

/// The sign-in throttle: `LOGIN_*`.
fn login_throttle(get: &impl Fn(&str) -> Option<String>) -> Result<LoginThrottle, ConfigError> {
    Ok(LoginThrottle {
        window: Duration::from_secs(number(get, "LOGIN_THROTTLE_WINDOW_SECS", 900, 1, 86_400)?),
        max_failures_per_account_address: count(number(
            get,
            "LOGIN_MAX_FAILURES_PER_ACCOUNT_ADDRESS",
            10,
            1,
            10_000,
        )?),
        max_failures_per_address: count(number(
            get,
            "LOGIN_MAX_FAILURES_PER_ADDRESS",
            100,
            1,
            100_000,
        )?),
        spread_addresses: count(number(get, "LOGIN_SPREAD_ADDRESSES", 3, 2, 10_000)?),
        spread_window: Duration::from_secs(number(get, "LOGIN_SPREAD_WINDOW_SECS", 60, 1, 86_400)?),
        pace: Duration::from_millis(number(get, "LOGIN_ACCOUNT_PACE_MS", 1_000, 100, 600_000)?),
    })
}

/// `METRICS_TOKEN`: at least 16 characters, or unset (metrics then need no token).
fn metrics_token(
    get: &impl Fn(&str) -> Option<String>,
) -> Result<Option<MetricsToken>, ConfigError> {
    match get("METRICS_TOKEN") {
        Some(token) if token.len() < 16 => Err(ConfigError {
            var: "METRICS_TOKEN",
            message: "must be at least 16 characters".into(),
        }),
        token => Ok(token.map(MetricsToken)),
    }
}

/// `DATABASE_READ_URLS`: PostgreSQL URLs separated by commas (none when unset).
fn read_urls(raw: Option<String>) -> Result<Vec<String>, ConfigError> {
    let Some(raw) = raw else {
        return Ok(Vec::new());
    };
    raw.split(',')
        .map(str::trim)
        .filter(|url| !url.is_empty())
        .enumerate()
        .map(|(index, url)| match url::Url::parse(url) {
            Ok(parsed) if matches!(parsed.scheme(), "postgres" | "postgresql") => {
                Ok(url.to_owned())
            }
            // The URL may hold a password: name its place in the list, never its text.
            _ => Err(ConfigError {
                var: "DATABASE_READ_URLS",
                message: format!("entry {} is not a postgres:// URL", index + 1),
            }),
        })
        .collect()
}

/// A bounded setting as a size (its bounds fit any platform's `usize`).
fn size(value: u64) -> usize {
    usize::try_from(value).unwrap_or(usize::MAX)
}

/// A bounded setting as a database count (its bounds fit an `int4`).
fn count(value: u64) -> i32 {
    i32::try_from(value).unwrap_or(i32::MAX)
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

/// `TRUSTED_PROXIES`: comma-separated IP addresses or CIDR networks (`10.0.0.0/8, ::1`).
fn trusted_proxies(raw: Option<String>) -> Result<Vec<ipnet::IpNet>, ConfigError> {
    let Some(raw) = raw else {
        return Ok(Vec::new());
    };
    raw.split(',')
        .map(str::trim)
        .filter(|part| !part.is_empty())
        .map(|part| {
            part.parse::<ipnet::IpNet>()
                .or_else(|_| part.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                .map_err(|_| ConfigError {
                    var: "TRUSTED_PROXIES",
                    message: format!("expected IP addresses or CIDR networks, got `{part}`"),
                })
        })
        .collect()
}

/// `CORS_ALLOWED_ORIGINS`: comma-separated exact origins (`https://shop.example.com`).
fn cors_origins(raw: Option<String>) -> Result<Vec<String>, ConfigError> {
    let Some(raw) = raw else {
        return Ok(Vec::new());
    };
    raw.split(',')
        .map(str::trim)
        .filter(|part| !part.is_empty())
        .map(|origin| {
            let parsed = url::Url::parse(origin).ok();
            let exact = parsed.as_ref().is_some_and(|url| {
                matches!(url.scheme(), "http" | "https")
                    && url.host().is_some()
                    && url.origin().ascii_serialization() == origin
            });
            if exact {
                Ok(origin.to_owned())
            } else {
                Err(ConfigError {
                    var: "CORS_ALLOWED_ORIGINS",
                    message: format!(
                        "expected exact origins such as https://shop.example.com (scheme, host and \
                         port only, no path or trailing slash), got `{origin}`"
                    ),
                })
            }
        })
        .collect()
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
    fn proxies_origins_and_the_metrics_token_are_checked() {
        let with = |var: &'static str, value: &str| {
            Settings::from_map(&HashMap::from([(var, value.to_string())]))
        };
        let proxies = with("TRUSTED_PROXIES", "10.0.0.0/8, 127.0.0.1,::1")
            .map(|s| s.trusted_proxies.len())
            .ok();
        assert_eq!(proxies, Some(3));
        assert_eq!(
            with("TRUSTED_PROXIES", "10.0.0.0/33").err().map(|e| e.var),
            Some("TRUSTED_PROXIES")
        );
        let origins = with(
            "CORS_ALLOWED_ORIGINS",
            "https://shop.example.com,http://127.0.0.1:5173",
        )
        .map(|s| s.cors_allowed_origins)
        .ok();
        assert_eq!(
            origins,
            Some(vec![
                "https://shop.example.com".to_owned(),
                "http://127.0.0.1:5173".to_owned()
            ])
        );
        for bad in [
            "https://shop.example.com/",
            "*",
            "shop.example.com",
            "https://a.example/app",
        ] {
            assert_eq!(
                with("CORS_ALLOWED_ORIGINS", bad).err().map(|e| e.var),
                Some("CORS_ALLOWED_ORIGINS"),
                "{bad}"
            );
        }
        assert_eq!(
            with("METRICS_TOKEN", "short").err().map(|e| e.var),
            Some("METRICS_TOKEN")
        );
        assert_eq!(
            with("LOGIN_MAX_FAILURES_PER_ACCOUNT", "10")
                .err()
                .map(|e| e.var),
            Some("LOGIN_MAX_FAILURES_PER_ACCOUNT")
        );
    }

    #[test]
    fn secret_is_never_debug_printed() {
        let map = HashMap::from([("JWT_SECRET", "s".repeat(40))]);
        let settings = Settings::from_map(&map).unwrap_or_else(|e| panic!("{e}"));
        assert!(!format!("{settings:?}").contains("ssss"));
    }
}
