#![allow(clippy::print_stdout)]
//! Entry point: parse the command line, set up telemetry, run the chosen subcommand.

use std::process::ExitCode;

use clap::Parser as _;
use internal_store::cli::{Cli, Command};
use internal_store::config::Settings;
use internal_store::{db, identity, openapi, startup::Application, telemetry};

#[tokio::main]
async fn main() -> ExitCode {
    // A `.env` in the working directory (or a parent) fills in what the environment leaves
    // unset; the environment always wins. A missing file is not an error; a broken one is.
    if let Err(error) = dotenvy::dotenv() {
        if !error.not_found() {
            eprintln!("error: .env: {error}");
            return ExitCode::from(2);
        }
    }
    let cli = Cli::parse();
    let command = cli.command.unwrap_or(Command::Serve);
    if let Command::Openapi = command {
        return match openapi::document_json() {
            Ok(json) => {
                print!("{json}");
                ExitCode::SUCCESS
            }
            Err(error) => {
                eprintln!("error: {error:#}");
                ExitCode::FAILURE
            }
        };
    }
    let settings = match Settings::from_env() {
        Ok(settings) => settings,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::from(2);
        }
    };
    telemetry::init(settings.log_format);
    match run(command, settings).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            // Once, through the log (which goes to stderr).
            tracing::error!("{error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Command, settings: Settings) -> anyhow::Result<()> {
    match command {
        Command::Serve => {
            let application = Application::build(settings).await?;
            tracing::info!(address = %application.address(), "listening");
            application.run_until_stopped().await?;
            Ok(())
        }
        Command::Migrate => {
            let located = db::locate(settings.database_url.as_deref()).await?;
            let applied = db::migrate(&located.url).await?;
            tracing::info!(count = applied.len(), ?applied, "migrations applied");
            Ok(())
        }
        Command::Bootstrap(args) => {
            let created = identity::bootstrap::run(&settings, args).await?;
            println!("{}", serde_json::to_string_pretty(&created)?);
            Ok(())
        }
        Command::SeedDemo => {
            let seeded = internal_store::demo::run(&settings).await?;
            println!("{}", serde_json::to_string_pretty(&seeded)?);
            Ok(())
        }
        Command::Openapi => Ok(()),
    }
}
