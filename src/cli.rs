//! Command line: `serve` (default), `migrate`, `openapi`, `bootstrap`, `seed-demo`.

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "internal-store",
    version,
    about = "Internal-client commerce for a corporate group"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP service (the default): locate/create the database, migrate, serve.
    Serve,
    /// Apply pending migrations and exit.
    Migrate,
    /// Print the OpenAPI document (JSON) on stdout.
    Openapi,
    /// Create a group: its root company and first admin. One database holds several groups; a
    /// group code that exists already exits non-zero and changes nothing.
    Bootstrap(BootstrapArgs),
    /// Load the JKL Holdings demo group (logins in the README). Creates the JKL group, or adds
    /// the demo's companies, people, products and trade to the JKL group already there (say,
    /// one `bootstrap` made), leaving what it has untouched; running it again adds nothing.
    SeedDemo,
}

#[derive(Debug, Args)]
pub struct BootstrapArgs {
    /// The root company's code, unique in the database (e.g. JKL).
    #[arg(long)]
    pub group_code: String,
    /// The root company's name (e.g. "JKL Holdings").
    #[arg(long)]
    pub group_name: String,
    /// ISO 4217 code of the group currency.
    #[arg(long)]
    pub currency: String,
    /// ISO 3166-1 alpha-2 country of the root company.
    #[arg(long, default_value = "US")]
    pub country: String,
    /// The first admin's email (their login).
    #[arg(long)]
    pub admin_email: String,
    /// At least 12 characters. Prefer the environment variable to keep it out of `ps`.
    #[arg(long, env = "BOOTSTRAP_ADMIN_PASSWORD", hide_env_values = true)]
    pub admin_password: String,
    /// The first admin's full name.
    #[arg(long, default_value = "Administrator")]
    pub admin_name: String,
}
