//! The command line: `serve`, `config`, `admin rebuild`, `admin
//! create-user`, and the flags that override the settings.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Parser, Subcommand};
use liaison_runtime::settings::{Settings, Sources};

use crate::target::Targets;

#[derive(Debug, Parser)]
#[command(
    name = "liaison",
    version,
    about = "Liaison CRM: contacts, relations, campaigns, billing and sync"
)]
pub struct Cli {
    /// Configuration file (default: ./liaison.toml when it exists).
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run services: all in one process (default) or the targets named.
    Serve(ServeArgs),
    /// Print the effective configuration, secrets masked.
    Config(Overrides),
    /// Administration tasks.
    Admin {
        #[command(subcommand)]
        command: AdminCommand,
    },
}

#[derive(Debug, Subcommand)]
enum AdminCommand {
    /// Rebuild read models from the event log (the server must be stopped).
    Rebuild {
        /// Services to rebuild: all, or a comma-separated list.
        #[arg(long, default_value = "all")]
        target: Targets,
        #[command(flatten)]
        overrides: Overrides,
    },
    /// Create a user of the web UI and API (with SQLite, the server must be stopped).
    CreateUser(CreateUserArgs),
    /// Check that these targets can run as one process of a distributed
    /// deployment: their databases and the peers they call are set.
    CheckDeployment {
        /// Services of the process: all, or a comma-separated list.
        #[arg(long, default_value = "all")]
        target: Targets,
        #[command(flatten)]
        overrides: Overrides,
    },
}

/// A user account, created straight in the gateway's database.
#[derive(Debug, clap::Args)]
pub struct CreateUserArgs {
    /// Login email.
    #[arg(long)]
    pub email: String,
    /// Name shown in the UI [default: the email].
    #[arg(long)]
    pub name: Option<String>,
    /// admin, staff or customer.
    #[arg(long, default_value = "staff")]
    pub role: String,
    /// Read the password from the first line of standard input; otherwise
    /// a random one is generated and printed.
    #[arg(long)]
    pub password_stdin: bool,
    #[command(flatten)]
    pub overrides: Overrides,
}

#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Components to run: all, or a comma-separated list (contacts, relations, gateway).
    #[arg(long, default_value = "all")]
    pub target: Targets,
    #[command(flatten)]
    pub overrides: Overrides,
}

/// Flags that override the configuration.
#[derive(Debug, Clone, clap::Args)]
pub struct Overrides {
    /// Directory for the embedded databases [default: ./data].
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// gRPC listen address [default: 127.0.0.1:50051].
    #[arg(long, value_name = "HOST:PORT")]
    pub grpc_addr: Option<SocketAddr>,
    /// HTTP listen address [default: 127.0.0.1:8080].
    #[arg(long, value_name = "HOST:PORT")]
    pub http_addr: Option<SocketAddr>,
}

impl Overrides {
    fn apply(&self, settings: &mut Settings) {
        if let Some(dir) = &self.data_dir {
            settings.data_dir.clone_from(dir);
        }
        if let Some(addr) = self.grpc_addr {
            settings.grpc_addr = addr;
        }
        if let Some(addr) = self.http_addr {
            settings.http_addr = addr;
        }
    }
}

/// The settings, every service's section checked.
fn load_settings(config: &Option<PathBuf>, overrides: &Overrides) -> anyhow::Result<Settings> {
    let mut settings = Settings::load(&Sources {
        file: config.clone(),
        environment: None,
    })?;
    overrides.apply(&mut settings);
    crate::services::check_settings(&settings)?;
    Ok(settings)
}

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve(args) => {
            let settings = load_settings(&cli.config, &args.overrides)?;
            let service_name = format!("liaison-{}", args.target).replace(',', "-");
            let _telemetry =
                liaison_runtime::telemetry::init(&settings.log, &settings.telemetry, &service_name)
                    .map_err(anyhow::Error::msg)?;
            crate::serve::serve(settings, args.target).await
        }
        Command::Config(overrides) => {
            let settings = load_settings(&cli.config, &overrides)?;
            print!("{}", settings.to_masked_toml());
            print!("\n{}", crate::services::effective_settings_toml(&settings)?);
            Ok(())
        }
        Command::Admin {
            command: AdminCommand::Rebuild { target, overrides },
        } => {
            let settings = load_settings(&cli.config, &overrides)?;
            liaison_runtime::telemetry::init_logging(&settings.log);
            crate::admin::rebuild(&settings, &target).await
        }
        Command::Admin {
            command: AdminCommand::CheckDeployment { target, overrides },
        } => {
            let settings = load_settings(&cli.config, &overrides)?;
            crate::admin::check_deployment(&settings, &target)
        }
        Command::Admin {
            command: AdminCommand::CreateUser(args),
        } => {
            let settings = load_settings(&cli.config, &args.overrides)?;
            liaison_runtime::telemetry::init_logging(&settings.log);
            crate::admin::create_user(&settings, args).await
        }
    }
}
