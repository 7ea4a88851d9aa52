//! Tracing set-up: `pretty` for people, `json` for log shippers. Logs go to stderr so that
//! `internal-store openapi` can print clean JSON on stdout.

use std::io::IsTerminal as _;

use tracing_subscriber::{fmt, layer::SubscriberExt, util::SubscriberInitExt, EnvFilter};

use crate::config::LogFormat;

/// What is logged when `RUST_LOG` is unset: `info` (one access line per request, start, signal,
/// drain and stop), with the database driver's chatter held to warnings.
pub const DEFAULT_FILTER: &str = "info,tokio_postgres=warn";

pub fn init(format: LogFormat) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(DEFAULT_FILTER));
    let registry = tracing_subscriber::registry().with(filter);
    // `try_init`: a second initialisation (tests) is not an error worth dying for.
    let _ = match format {
        LogFormat::Json => registry
            .with(
                fmt::layer()
                    .json()
                    .with_current_span(true)
                    .with_span_list(false)
                    .with_writer(std::io::stderr),
            )
            .try_init(),
        LogFormat::Pretty => registry
            .with(
                fmt::layer()
                    .compact()
                    .with_ansi(std::io::stderr().is_terminal())
                    .with_writer(std::io::stderr),
            )
            .try_init(),
    };
}
