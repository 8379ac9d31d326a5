//! `assize`: the command line. `assize serve` runs the server; the other commands act on its
//! database directly (run them on the server's machine, with the same configuration).
// The command line's output is its interface.
#![allow(clippy::print_stdout)]

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use assize_server::app::{self, Application};
use assize_server::audit::{Actor, AuditEvent, AuditLog, export};
use assize_server::config::{LogFormat, Settings};
use assize_server::pki::DataDir;
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
    /// The tamper-evident audit log.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Check an MLA evidence package (ASiC-E) with no server: every file against the sealed
    /// manifest, and every message and receipt against its own seal and time-stamp.
    Verify {
        /// The `.asice` file downloaded from `GET /api/v1/mla/requests/{id}/evidence`.
        package: PathBuf,
        /// A CA certificate (PEM) to trust: give both states' CAs. Repeat for several.
        #[arg(long = "ca", required = true)]
        ca: Vec<PathBuf>,
    },
    /// The mail outbox.
    #[command(subcommand)]
    Mail(MailCommand),
    /// Write a protected witness's voice secret in a hearing to FILE (mode 0600), so that
    /// `assize anonymise` gives a recording of their testimony the voice heard live.
    HearingSecret {
        hearing_id: String,
        /// The witness's participant id in that hearing.
        #[arg(long)]
        participant: String,
        #[arg(long)]
        out: PathBuf,
    },
    /// Anonymise a recorded testimony with the protected-witness anonymisers, exactly as the
    /// live pipeline does: a WAV's voice (with the per-hearing secret from a file), or the
    /// faces in a 4:2:0 Y4M video (`ffmpeg -i IN -pix_fmt yuv420p OUT.y4m` makes one).
    Anonymise {
        /// Distort the voice (WAV input); needs --secret-file.
        #[arg(long, conflicts_with = "face", requires = "secret_file")]
        voice: bool,
        /// Cover the faces (Y4M input): `masked` (each face) or `full-frame` (a silhouette).
        #[arg(long, value_parser = ["masked", "full-frame"])]
        face: Option<String>,
        /// A file with the 256-bit secret (32 bytes or 64 hex digits, mode 0600).
        #[arg(long)]
        secret_file: Option<PathBuf>,
        input: PathBuf,
        output: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
enum MailCommand {
    /// Queue a test message to ADDRESS; the running server sends it with the [mail] settings.
    Test {
        #[arg(long)]
        to: String,
    },
    /// List the messages not sent yet: id, recipients, attempts and the last error (no texts).
    Queue,
}

#[derive(Debug, Subcommand)]
enum AuditCommand {
    /// Seal a checkpoint of the current log, then write every entry and checkpoint to FILE.
    Export { file: PathBuf },
    /// Check an export with no server: recompute the tree, check every checkpoint's signature and
    /// time-stamp, and name the first entry that was altered, inserted, reordered or removed.
    Verify {
        file: PathBuf,
        /// The CA that issued the server's signing key (default: the one inside the export,
        /// which proves integrity but not who signed).
        #[arg(long)]
        ca: Option<PathBuf>,
    },
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
            Some(Command::Audit(cmd)) => audit(settings, cmd).await,
            Some(Command::Verify { package, ca }) => verify_package(&package, &ca),
            Some(Command::Mail(cmd)) => mail(settings, cmd).await,
            Some(Command::HearingSecret {
                hearing_id,
                participant,
                out,
            }) => hearing_secret(settings, &hearing_id, &participant, &out).await,
            Some(Command::Anonymise {
                voice,
                face,
                secret_file,
                input,
                output,
            }) => anonymise(
                voice,
                face.as_deref(),
                secret_file.as_deref(),
                &input,
                &output,
            ),
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

/// Opens what a command needs to act and record it: the store and the audit log.
async fn open_for_command(
    settings: &Settings,
) -> anyhow::Result<(Store, AuditLog, String, DataDir)> {
    let data_dir = DataDir::bootstrap(&settings.data_dir)?;
    let store = app::open_store(settings).await?;
    let public_url = settings.effective_public_url(settings.listen_addr()?);
    let (_notary, log, _tasks) = app::open_audit(settings, &data_dir, &store, &public_url).await?;
    Ok((store, log, public_url, data_dir))
}

async fn user(settings: Settings, cmd: UserCommand) -> anyhow::Result<()> {
    let (store, log, public_url, _) = open_for_command(&settings).await?;
    let result = user_command(&store, &log, &settings, &public_url, cmd).await;
    store.close().await;
    result
}

async fn audit(settings: Settings, cmd: AuditCommand) -> anyhow::Result<()> {
    match cmd {
        AuditCommand::Export { file } => {
            let (store, log, _, data_dir) = open_for_command(&settings).await?;
            log.append(AuditEvent::new(
                Actor::Operator,
                "audit.export",
                "audit-log",
            ))
            .await?;
            log.checkpoint_now().await?;
            let anchors = std::fs::read_to_string(&data_dir.ca_cert)?;
            let mut out = std::io::BufWriter::new(
                std::fs::File::create(&file)
                    .with_context(|| format!("cannot create {}", file.display()))?,
            );
            let (entries, checkpoints) =
                export::export(&store, log.origin(), &anchors, &mut out).await?;
            store.close().await;
            println!(
                "exported {entries} entries and {checkpoints} checkpoints to {}",
                file.display()
            );
            Ok(())
        }
        AuditCommand::Verify { file, ca } => {
            let input = std::io::BufReader::new(
                std::fs::File::open(&file)
                    .with_context(|| format!("cannot open {}", file.display()))?,
            );
            let ca = ca
                .map(std::fs::read)
                .transpose()
                .context("cannot read the --ca file")?;
            let report = export::verify(input, ca.as_deref())?;
            println!(
                "log {:?}: {} entries, {} checkpoints verified",
                report.origin, report.entries, report.checkpoints_verified
            );
            if report.trusted_embedded_anchors {
                println!(
                    "note: signatures were checked against the CA inside the export; pass --ca to check against a CA you trust"
                );
            }
            if report.uncovered_entries > 0 && report.ok() {
                println!(
                    "note: the last {} entries are not covered by a signed checkpoint yet",
                    report.uncovered_entries
                );
            }
            match report.problem {
                None => {
                    println!("OK: the export is intact");
                    Ok(())
                }
                Some(p) => anyhow::bail!("verification FAILED: {p}"),
            }
        }
    }
}

fn verify_package(package: &std::path::Path, cas: &[PathBuf]) -> anyhow::Result<()> {
    let mut pem = Vec::new();
    for ca in cas {
        pem.extend(std::fs::read(ca).with_context(|| format!("cannot read {}", ca.display()))?);
        pem.push(b'\n');
    }
    let anchors = assize_signing::verify::TrustAnchors::from_pem(&pem)
        .context("the --ca files hold no usable CA certificate")?;
    let bytes =
        std::fs::read(package).with_context(|| format!("cannot read {}", package.display()))?;
    let report = assize_server::mla::evidence::verify_package(&bytes, &anchors);
    for (file, result) in &report.lines {
        match result {
            Ok(()) => println!("ok      {file}"),
            Err(e) => println!("FAILED  {file}: {e}"),
        }
    }
    if report.is_valid() {
        println!("OK: the package is intact and every seal verifies");
        Ok(())
    } else {
        anyhow::bail!(
            "verification FAILED: {} problem(s), first: {}",
            report.failures().len(),
            report.failures().first().cloned().unwrap_or_default()
        )
    }
}

async fn hearing_secret(
    settings: Settings,
    hearing_id: &str,
    participant: &str,
    out: &std::path::Path,
) -> anyhow::Result<()> {
    let (store, log, _, _) = open_for_command(&settings).await?;
    let result = async {
        if store.hearing(hearing_id).await?.is_none() {
            anyhow::bail!("there is no hearing {hearing_id:?} (see GET /api/v1/hearings)");
        }
        if store.participant(hearing_id, participant).await?.is_none() {
            anyhow::bail!("there is no participant {participant:?} in hearing {hearing_id:?}");
        }
        let vault = assize_server::vault::Vault::load_or_create(&settings.data_dir)?;
        let secret = assize_server::anonymise::hearing_secret(&store, &vault, hearing_id).await?;
        let voice = assize_server::sfu::anonymisers::voice_secret_for(&secret, participant)
            .ok_or_else(|| anyhow::anyhow!("cannot derive the voice secret"))?;
        assize_server::pki::write_atomic(out, hex::encode(voice.as_ref()).as_bytes(), 0o600)?;
        log.append(
            AuditEvent::new(
                Actor::Operator,
                "hearing.secret_export",
                format!("hearing:{hearing_id}"),
            )
            .with(serde_json::json!({ "participant": participant })),
        )
        .await?;
        println!(
            "wrote the secret of hearing {hearing_id} to {} (mode 0600)",
            out.display()
        );
        Ok(())
    }
    .await;
    store.close().await;
    result
}

fn anonymise(
    voice: bool,
    face: Option<&str>,
    secret_file: Option<&std::path::Path>,
    input: &std::path::Path,
    output: &std::path::Path,
) -> anyhow::Result<()> {
    use assize_server::anonymise as an;
    let has = |ext: &str| {
        input
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case(ext))
    };
    let report = match (voice, face, secret_file) {
        (true, None, Some(secret_file)) if has("wav") => {
            let secret = an::read_secret(secret_file)?;
            an::anonymise_wav(input, output, &secret)?
        }
        (false, Some(mode), _) if has("y4m") => {
            let mode = if mode == "full-frame" {
                assize_media::FaceMode::FullFrame
            } else {
                assize_media::FaceMode::Masked
            };
            an::anonymise_y4m(input, output, mode)?
        }
        _ => anyhow::bail!(
            "give either --voice --secret-file FILE with a .wav file, or --face masked|full-frame \
             with a .y4m file (convert a video with: ffmpeg -i IN -pix_fmt yuv420p OUT.y4m)"
        ),
    };
    println!(
        "anonymised {:.1} s of {} into {}",
        report.seconds,
        report.kind,
        output.display()
    );
    Ok(())
}

async fn mail(settings: Settings, cmd: MailCommand) -> anyhow::Result<()> {
    let store = app::open_store(&settings).await?;
    let result = mail_command(&store, &settings, cmd).await;
    store.close().await;
    result
}

async fn mail_command(store: &Store, settings: &Settings, cmd: MailCommand) -> anyhow::Result<()> {
    match cmd {
        MailCommand::Test { to } => {
            let message = settings
                .mail
                .test_message(&to)
                .with_context(|| format!("cannot build a message to {to:?}"))?;
            let id = store.enqueue_mail(&message).await?;
            println!(
                "queued test message {id} to {to} from {}",
                settings.mail.from
            );
            if settings.mail.enabled() {
                println!(
                    "the running server sends it through {}:{} within {} ms; \
                     `assize mail queue` shows it until then, with the error if it fails",
                    settings.mail.smtp_host,
                    settings.mail.effective_port(),
                    settings.mail.poll_interval_ms
                );
            } else {
                println!(
                    "note: mail.smtp_host is not set, so the message stays in the outbox until \
                     it is (see docs/operations.md, \"Mail\")"
                );
            }
        }
        MailCommand::Queue => {
            let unsent = store.unsent_mail(1000).await?;
            if unsent.is_empty() {
                println!("the outbox is empty: every message has been sent");
                return Ok(());
            }
            println!(
                "{:<36} {:<6} {:<20} {:>8} {:<20} RECIPIENTS / LAST ERROR",
                "ID", "KIND", "QUEUED", "ATTEMPTS", "NEXT ATTEMPT"
            );
            for m in &unsent {
                println!(
                    "{:<36} {:<6} {:<20} {:>8} {:<20} {}",
                    m.id,
                    m.kind,
                    utc(m.created_at),
                    m.attempts,
                    utc(m.next_attempt_at),
                    m.recipients.join(", ")
                );
                if let Some(e) = &m.last_error {
                    println!("{:>36} last error: {e}", "");
                }
            }
            println!("{} message(s) not sent yet", unsent.len());
        }
    }
    Ok(())
}

/// Unix seconds as `2026-11-29 10:36:00` (UTC).
fn utc(t: i64) -> String {
    let format = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second]");
    time::OffsetDateTime::from_unix_timestamp(t)
        .ok()
        .and_then(|d| d.format(&format).ok())
        .unwrap_or_else(|| t.to_string())
}

async fn find(store: &Store, username: &str) -> anyhow::Result<assize_server::store::UserRecord> {
    store
        .user_by_username(&username.trim().to_lowercase())
        .await?
        .with_context(|| format!("no account named {username:?} (see `assize user list`)"))
}

async fn user_command(
    store: &Store,
    log: &AuditLog,
    settings: &Settings,
    public_url: &str,
    cmd: UserCommand,
) -> anyhow::Result<()> {
    let record = |action: &'static str, user_id: &str| {
        log.append(AuditEvent::new(
            Actor::Operator,
            action,
            format!("user:{user_id}"),
        ))
    };
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
            record("user.create", &user.id).await?;
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
            record("user.disable", &u.id).await?;
            println!(
                "disabled {}: its sessions ended and its API tokens were revoked",
                u.username
            );
        }
        UserCommand::Enable { username } => {
            let u = find(store, &username).await?;
            accounts::set_disabled(store, &u.id, false).await?;
            record("user.enable", &u.id).await?;
            println!("enabled {}", u.username);
        }
        UserCommand::ResetTotp { username } => {
            let u = find(store, &username).await?;
            store.reset_totp(&u.id).await?;
            record("user.reset_totp", &u.id).await?;
            println!(
                "second factor removed for {}: they set it up again at their next sign-in",
                u.username
            );
        }
        UserCommand::PasswordLink { username } => {
            let u = find(store, &username).await?;
            let link = accounts::password_link(store, settings, public_url, &u.id).await?;
            record("user.password_link", &u.id).await?;
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
