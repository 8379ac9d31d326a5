//! `assize`: the command line. `assize serve` runs the server; the other commands act on its
//! database directly (run them on the server's machine, with the same configuration).
// The command line's output is its interface.
#![allow(clippy::print_stdout)]

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use assize_server::app::{self, Application};
use assize_server::config::{LogFormat, Settings};
use assize_server::policy::Role;
use assize_server::store::Store;
use assize_server::{accounts, telemetry};
use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "assize",
    version,
    about = "Assize: remote court hearings and signed MLA exchange"
)]
struct Cli {
    /// A TOML configuration file (every setting also has an ASSIZE_… environment variable).
    #[arg(long, global = true, env = "ASSIZE_CONFIG")]
    config: Option<PathBuf>,
    /// Log format; overrides `log.format`.
    #[arg(long, global = true, value_enum, env = "ASSIZE_LOG_FORMAT")]
    log_format: Option<LogFormat>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the server (the default when no command is given).
    Serve,
    /// Bring the database schema up to date, then exit.
    Migrate,
    /// Manage user accounts.
    #[command(subcommand)]
    User(UserCommand),
}

#[derive(Debug, Subcommand)]
enum UserCommand {
    /// Create an account and print the one-time link with which its owner sets a password.
    Add {
        #[arg(long)]
        username: String,
        #[arg(long)]
        display_name: String,
        /// administrator, judge, clerk or officer; repeat for several.
        #[arg(long = "role", required = true, value_parser = parse_role)]
        roles: Vec<Role>,
    },
    /// List every account.
    List,
    /// Disable an account: ends its sessions and revokes its API tokens.
    Disable { username: String },
    /// Enable a disabled account.
    Enable { username: String },
    /// Remove an account's second factor; it enrols again at its next sign-in.
    ResetTotp { username: String },
    /// Print a new one-time link to set an account's password.
    PasswordLink { username: String },
}

fn parse_role(s: &str) -> Result<Role, String> {
    Role::parse(s)
        .ok_or_else(|| format!("unknown role {s:?}: use administrator, judge, clerk or officer"))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let mut settings = match Settings::load(cli.config.as_deref()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("assize: {e}");
            return ExitCode::from(2);
        }
    };
    if let Some(f) = cli.log_format {
        settings.log.format = f;
    }
    let serving = matches!(cli.command, None | Some(Command::Serve));
    telemetry::init(
        settings.log.format,
        if serving { &settings.log.level } else { "warn" },
    );

    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("assize: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        match cli.command {
            None | Some(Command::Serve) => serve(settings).await,
            Some(Command::Migrate) => {
                app::open_store(&settings).await?;
                println!("database schema is up to date");
                Ok(())
            }
            Some(Command::User(cmd)) => user(settings, cmd).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("assize: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(settings: Settings) -> anyhow::Result<()> {
    let app = Application::build(settings).await?;
    println!("Assize is listening on {}", app.public_url());
    println!("  health: {}/healthz", app.public_url());
    println!(
        "  development CA (trust it in your browser): {}",
        app.data_dir().ca_cert.display()
    );
    if let Some(link) = app.setup_link() {
        println!();
        println!("No administrator exists yet. Open this one-time link to create the first one:");
        println!("  {link}");
        println!();
    }
    tracing::info!(address = %app.local_addr(), "listening");
    app.run_until_stopped(app::shutdown_signal()).await?;
    println!("Assize stopped.");
    Ok(())
}

async fn user(settings: Settings, cmd: UserCommand) -> anyhow::Result<()> {
    let store = app::open_store(&settings).await?;
    let public_url = settings.effective_public_url(settings.listen_addr()?);
    let result = user_command(&store, &settings, &public_url, cmd).await;
    store.close().await;
    result
}

async fn find(store: &Store, username: &str) -> anyhow::Result<assize_server::store::UserRecord> {
    store
        .user_by_username(&username.trim().to_lowercase())
        .await?
        .with_context(|| format!("no account named {username:?} (see `assize user list`)"))
}

async fn user_command(
    store: &Store,
    settings: &Settings,
    public_url: &str,
    cmd: UserCommand,
) -> anyhow::Result<()> {
    match cmd {
        UserCommand::Add {
            username,
            display_name,
            roles,
        } => {
            let (user, link) = accounts::create_user(
                store,
                settings,
                public_url,
                &username,
                &display_name,
                &roles,
            )
            .await?;
            println!("created {} ({})", user.username, join_roles(&user.roles));
            println!(
                "send this one-time link to its owner to set a password (valid {} h):",
                settings.auth.one_time_link_hours
            );
            println!("  {link}");
        }
        UserCommand::List => {
            println!(
                "{:<24} {:<32} {:<28} {:<6} STATUS",
                "USERNAME", "NAME", "ROLES", "TOTP"
            );
            for u in store.list_users().await? {
                println!(
                    "{:<24} {:<32} {:<28} {:<6} {}",
                    u.username,
                    u.display_name,
                    join_roles(&u.roles),
                    if u.totp_secret.is_some() { "yes" } else { "no" },
                    if u.disabled { "disabled" } else { "active" }
                );
            }
        }
        UserCommand::Disable { username } => {
            let u = find(store, &username).await?;
            accounts::set_disabled(store, &u.id, true).await?;
            println!(
                "disabled {}: its sessions ended and its API tokens were revoked",
                u.username
            );
        }
        UserCommand::Enable { username } => {
            let u = find(store, &username).await?;
            accounts::set_disabled(store, &u.id, false).await?;
            println!("enabled {}", u.username);
        }
        UserCommand::ResetTotp { username } => {
            let u = find(store, &username).await?;
            store.reset_totp(&u.id).await?;
            println!(
                "second factor removed for {}: they set it up again at their next sign-in",
                u.username
            );
        }
        UserCommand::PasswordLink { username } => {
            let u = find(store, &username).await?;
            let link = accounts::password_link(store, settings, public_url, &u.id).await?;
            println!(
                "one-time link for {} (valid {} h):\n  {link}",
                u.username, settings.auth.one_time_link_hours
            );
        }
    }
    Ok(())
}

fn join_roles(roles: &[Role]) -> String {
    roles
        .iter()
        .map(|r| r.as_str())
        .collect::<Vec<_>>()
        .join(",")
}
