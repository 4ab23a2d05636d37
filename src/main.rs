//! The `keyward` command: serve, migrate, print the OpenAPI spec, and the ops commands (`users`, `roles`,
//! `permissions`, `sync`) in `cli`.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use keyward::{
    app::{self, Application},
    cli,
    config::Config,
    db::{self, Db},
    http::routes,
    telemetry,
};

#[derive(Parser)]
#[command(
    name = "keyward",
    version,
    about = "Application backend for single-page apps"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Apply migrations, then serve HTTP until SIGINT or SIGTERM.
    Serve,
    /// Apply migrations and exit.
    Migrate,
    /// Print the OpenAPI spec as JSON (needs no database or configuration).
    Openapi,
    /// Users: list, show, activate, deactivate, end their sessions (named by id or by verified email).
    Users {
        #[command(subcommand)]
        command: UsersCommand,
    },
    /// Roles: list, create, delete, set their permissions, grant or revoke one.
    Roles {
        #[command(subcommand)]
        command: RolesCommand,
    },
    /// Permissions (`resource:action`): list, create, delete.
    Permissions {
        #[command(subcommand)]
        command: PermissionsCommand,
    },
    /// The user sync with the provider's directory.
    Sync {
        #[command(subcommand)]
        command: SyncCommand,
    },
}

#[derive(Subcommand)]
enum SyncCommand {
    /// Run a sync now and print its summary (exit 1 when it fails or cannot start).
    Run,
    /// The last runs and the next scheduled one.
    Status,
}

#[derive(Subcommand)]
enum RolesCommand {
    /// Every role: holders, flags, permissions.
    List,
    /// Grant a role manually; audited only when the user did not hold that grant yet.
    Grant {
        #[arg(help = USER_HELP)]
        user: String,
        /// The role's name
        role: String,
    },
    /// Revoke a manual or default grant of a role (the last admin keeps `admin`); audited only when there was one.
    Revoke {
        #[arg(help = USER_HELP)]
        user: String,
        /// The role's name
        role: String,
    },
    /// Create a role.
    Create {
        /// Lowercase letters, digits, `_` and `-`
        name: String,
        #[arg(long, default_value = "")]
        description: String,
        /// Grant it to every user at their first login
        #[arg(long)]
        default: bool,
        /// Members of this provider group (or Keycloak realm role) hold it
        #[arg(long)]
        idp_group: Option<String>,
        /// Permissions it starts with
        #[arg(long, value_delimiter = ',')]
        permissions: Vec<String>,
    },
    /// Delete a role and every grant of it (built-in roles stay).
    Delete { name: String },
    /// Set a role's permissions to exactly those given (none: it keeps none).
    Permissions {
        name: String,
        permissions: Vec<String>,
    },
}

#[derive(Subcommand)]
enum UsersCommand {
    /// Users, oldest first.
    List {
        /// Only emails containing this (case-insensitive)
        #[arg(long)]
        email: Option<String>,
        /// Only holders of this role
        #[arg(long)]
        role: Option<String>,
        /// Only active (true) or inactive (false) users
        #[arg(long)]
        active: Option<bool>,
        #[arg(long, default_value_t = 1)]
        page: u64,
        #[arg(long, default_value_t = 50)]
        per_page: u64,
    },
    /// A user's profile, status and grants with their sources.
    Show {
        #[arg(help = USER_HELP)]
        user: String,
    },
    /// Reactivate a user.
    Activate {
        #[arg(help = USER_HELP)]
        user: String,
    },
    /// Deactivate a user: their sessions end and their tokens stop working (the last admin stays).
    Deactivate {
        #[arg(help = USER_HELP)]
        user: String,
    },
    /// Log a user out everywhere: end their sessions, refuse the API tokens issued to them so far.
    EndSessions {
        #[arg(help = USER_HELP)]
        user: String,
    },
}

#[derive(Subcommand)]
enum PermissionsCommand {
    /// Every permission.
    List,
    /// Create an application permission.
    Create {
        /// `resource:action`, such as invoices:approve
        name: String,
        #[arg(long, default_value = "")]
        description: String,
    },
    /// Delete a permission (built-in ones stay); roles lose it.
    Delete { name: String },
}

const USER_HELP: &str =
    "The user's id, or their email (case-insensitive) if the provider verified it";

/// Exit code for a configuration that cannot be used.
const EXIT_CONFIG: u8 = 2;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Command::Openapi = cli.command {
        println!("{}", routes::spec_json());
        return ExitCode::SUCCESS;
    }
    if let Err(err) = dotenvy::dotenv()
        && !err.not_found()
    {
        eprintln!("keyward: cannot read .env: {err}");
        return ExitCode::from(EXIT_CONFIG);
    }
    let config = match Config::from_env() {
        Ok(config) => config,
        Err(err) => {
            eprintln!("keyward: {err}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    // The server logs a line per request, through the batching writer; held to the end of `main`, so that the
    // lines still pending are written before the process exits.
    let _log = match cli.command {
        Command::Serve => telemetry::init_batched(config.log_format),
        _ => {
            telemetry::init(config.log_format);
            None
        }
    };
    let result = match cli.command {
        Command::Serve => serve(config).await,
        Command::Migrate => migrate(&config).await,
        Command::Users { command } => users(&config, command).await,
        Command::Roles { command } => roles(&config, command).await,
        Command::Permissions { command } => permissions(&config, command).await,
        Command::Sync { command } => sync(&config, command).await,
        Command::Openapi => Ok(()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!("{err:#}");
            eprintln!("keyward: {err:#}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(config: Config) -> anyhow::Result<()> {
    let app = Application::build(config).await?;
    let state = app.state();
    tracing::info!(
        port = app.port(),
        public_url = %state.config.public_url,
        "keyward listening"
    );
    app.run_until(app::shutdown_signal()).await?;
    tracing::info!("keyward stopped");
    Ok(())
}

async fn roles(config: &Config, command: RolesCommand) -> anyhow::Result<()> {
    with_database(config, async |conn| {
        keyward::rbac::seed::apply(conn, None).await?;
        let out = match command {
            RolesCommand::List => cli::roles_list(conn).await?,
            RolesCommand::Grant { user, role } => cli::roles_grant(conn, &user, &role).await?,
            RolesCommand::Revoke { user, role } => cli::roles_revoke(conn, &user, &role).await?,
            RolesCommand::Create {
                name,
                description,
                default,
                idp_group,
                permissions,
            } => {
                let new = cli::CreateRole {
                    name,
                    description,
                    is_default: default,
                    idp_group,
                    permissions,
                };
                cli::roles_create(conn, new).await?
            }
            RolesCommand::Delete { name } => cli::roles_delete(conn, &name).await?,
            RolesCommand::Permissions { name, permissions } => {
                cli::roles_permissions(conn, &name, &permissions).await?
            }
        };
        println!("{}", out.trim_end());
        Ok(())
    })
    .await
}

async fn users(config: &Config, command: UsersCommand) -> anyhow::Result<()> {
    with_database(config, async |conn| {
        let out = match command {
            UsersCommand::List {
                email,
                role,
                active,
                page,
                per_page,
            } => {
                let filter = cli::ListFilter {
                    email,
                    role,
                    active,
                    page,
                    per_page,
                };
                cli::users_list(conn, filter).await?
            }
            UsersCommand::Show { user } => cli::users_show(conn, &user).await?,
            UsersCommand::Activate { user } => cli::users_activate(conn, &user).await?,
            UsersCommand::Deactivate { user } => cli::users_deactivate(conn, &user).await?,
            UsersCommand::EndSessions { user } => cli::users_end_sessions(conn, &user).await?,
        };
        println!("{}", out.trim_end());
        Ok(())
    })
    .await
}

async fn permissions(config: &Config, command: PermissionsCommand) -> anyhow::Result<()> {
    with_database(config, async |conn| {
        keyward::rbac::seed::apply(conn, None).await?;
        let out = match command {
            PermissionsCommand::List => cli::permissions_list(conn).await?,
            PermissionsCommand::Create { name, description } => {
                cli::permissions_create(conn, &name, &description).await?
            }
            PermissionsCommand::Delete { name } => cli::permissions_delete(conn, &name).await?,
        };
        println!("{}", out.trim_end());
        Ok(())
    })
    .await
}

async fn sync(config: &Config, command: SyncCommand) -> anyhow::Result<()> {
    with_database(config, async |conn| {
        let out = match command {
            SyncCommand::Run => cli::sync_run(config, conn).await?,
            SyncCommand::Status => cli::sync_status(config, conn).await?,
        };
        println!("{}", out.trim_end());
        Ok(())
    })
    .await
}

async fn migrate(config: &Config) -> anyhow::Result<()> {
    with_database(config, async |_| {
        tracing::info!("migrations applied");
        Ok(())
    })
    .await
}

/// A command on the migrated database, closed afterwards whatever the outcome: SQLite then folds its
/// write-ahead log back into the database file instead of leaving it (megabytes after a sync) beside it.
async fn with_database(
    config: &Config,
    command: impl AsyncFnOnce(&Db) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let conn = db::connect(&config.database).await?;
    let result = match db::migrate(&conn).await {
        Ok(()) => command(&conn).await,
        Err(err) => Err(err.into()),
    };
    conn.close().await.ok();
    result
}
