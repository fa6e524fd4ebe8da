//! The `consentry` command: run the proxy, check a configuration, run the demo,
//! print the cookie audit of a running instance or the consent records of a store.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use consentry::config::{Config, SHIPPED};
use consentry::ops::logging::{self, LogFormat};

/// `--config` when none is given.
const DEFAULT_CONFIG: &str = "proxy.yaml";

#[derive(Parser)]
#[command(
    name = "consentry",
    version,
    about = "A reverse proxy that enforces cookie consent on the wire"
)]
struct Cli {
    /// The configuration file.
    #[arg(long, short, global = true, default_value = DEFAULT_CONFIG)]
    config: PathBuf,
    /// How log events are written.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Validate the configuration and print a summary (exit 1 on errors).
    Check,
    /// Run in front of a built-in sample portal on http://localhost:8080.
    Demo {
        /// Where the demo listens.
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: SocketAddr,
    },
    /// Print the cookie audit (names seen in Set-Cookie) of a running instance.
    Audit {
        /// The admin listener of the running instance [default: the configuration's
        /// `admin.listen`, else 127.0.0.1:9901].
        #[arg(long)]
        admin: Option<SocketAddr>,
        /// Print the JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Print the consent records of the configured store, oldest first.
    Records {
        /// Only the records of this consent ID.
        #[arg(long)]
        consent_id: Option<String>,
        /// Only records at or after this time (RFC 3339, e.g. 2026-01-31T00:00:00Z).
        #[arg(long)]
        since: Option<String>,
        #[arg(long, value_enum, default_value_t = RecordsFormat::Jsonl)]
        format: RecordsFormat,
        /// Add to each JSON line the policy text the visitor was shown (`policy_text`).
        #[arg(long)]
        with_policy: bool,
    },
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum RecordsFormat {
    Jsonl,
    Csv,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Held to the end of `main`: dropping it writes out the lines still queued.
    let _flush = logging::init(cli.log_format);
    match cli.command {
        Some(Command::Check) => check(&cli.config),
        Some(Command::Demo { listen }) => {
            consentry::ops::memory::spawn_trimmer();
            runtime().block_on(demo(&cli.config, listen))
        }
        Some(Command::Audit { admin, json }) => {
            let admin = admin
                .or_else(|| consentry::config::Config::load(&cli.config).ok()?.admin)
                .unwrap_or(SocketAddr::from(([127, 0, 0, 1], 9901)));
            runtime().block_on(audit(admin, json))
        }
        Some(Command::Records {
            consent_id,
            since,
            format,
            with_policy,
        }) => runtime().block_on(records(&cli.config, consent_id, since, format, with_policy)),
        None => {
            consentry::ops::memory::spawn_trimmer();
            runtime().block_on(run(&cli.config))
        }
    }
}

async fn records(
    path: &Path,
    consent_id: Option<String>,
    since: Option<String>,
    format: RecordsFormat,
    with_policy: bool,
) -> ExitCode {
    use consentry::ops::records::read::{Output, print_all};
    let config = match Config::load(path) {
        Ok(config) => config,
        Err(errors) => {
            eprintln!("{errors}");
            return ExitCode::FAILURE;
        }
    };
    let Some(records) = config.records else {
        eprintln!(
            "consentry: {} sets no `records`: consent records are off",
            path.display()
        );
        return ExitCode::FAILURE;
    };
    let since_ms = match since
        .as_deref()
        .map(consentry::ops::records::record::parse_time)
    {
        None => None,
        Some(Some(ms)) => Some(ms),
        Some(None) => {
            eprintln!("consentry: --since is not an RFC 3339 time (e.g. 2026-01-31T00:00:00Z)");
            return ExitCode::FAILURE;
        }
    };
    let output = match format {
        RecordsFormat::Jsonl => Output::Jsonl,
        RecordsFormat::Csv if with_policy => {
            eprintln!("consentry: --with-policy adds a field to JSON lines: use --format jsonl");
            return ExitCode::FAILURE;
        }
        RecordsFormat::Csv => Output::Csv,
    };
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let printed = print_all(
        &records.store,
        consent_id,
        since_ms,
        output,
        with_policy,
        &mut out,
    )
    .await;
    let flushed = std::io::Write::flush(&mut out);
    match (printed, flushed) {
        (Ok(_), Ok(())) => ExitCode::SUCCESS,
        (Err(e), _) => {
            eprintln!("consentry: {}: {e}", records.store.redacted());
            ExitCode::FAILURE
        }
        (_, Err(e)) => {
            eprintln!("consentry: cannot write the output: {e}");
            ExitCode::FAILURE
        }
    }
}

fn runtime() -> tokio::runtime::Runtime {
    // On one core (a sidecar with a CPU limit of 1, or pinned) the work-stealing
    // scheduler has nobody to steal from; the single-threaded one does less per wake.
    let single = std::thread::available_parallelism().is_ok_and(|n| n.get() == 1);
    let mut builder = if single {
        tokio::runtime::Builder::new_current_thread()
    } else {
        tokio::runtime::Builder::new_multi_thread()
    };
    match builder.enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("consentry: cannot start the async runtime: {e}");
            std::process::exit(1);
        }
    }
}

fn check(path: &Path) -> ExitCode {
    match Config::load(path) {
        Ok(config) => print_out(&config.summary()),
        Err(errors) => {
            eprintln!("{errors}");
            ExitCode::FAILURE
        }
    }
}

/// Writes a command's output to stdout. A reader that stops early (`| head`) is no
/// failure of the command: the rest is dropped quietly, where `print!` would panic.
fn print_out(text: &str) -> ExitCode {
    use std::io::Write;
    match std::io::stdout().lock().write_all(text.as_bytes()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            eprintln!("consentry: cannot write the output: {e}");
            ExitCode::FAILURE
        }
        _ => ExitCode::SUCCESS,
    }
}

async fn run(path: &Path) -> ExitCode {
    let config = match Config::load(path) {
        Ok(config) => config,
        Err(errors) => {
            eprintln!("{errors}");
            return ExitCode::FAILURE;
        }
    };
    match consentry::net::server::run(config, Some(path.to_path_buf())).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("consentry: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn demo(path: &Path, listen: SocketAddr) -> ExitCode {
    // The policy comes from the given file, else ./proxy.yaml, else the shipped copy.
    // A file named with --config must be there: a typo must not quietly show another
    // policy.
    let (text, label, base) = match std::fs::read_to_string(path) {
        Ok(text) => (
            text,
            path.display().to_string(),
            path.parent().map(Path::to_path_buf).unwrap_or_default(),
        ),
        Err(e) if path != Path::new(DEFAULT_CONFIG) => {
            eprintln!("consentry: cannot read {}: {e}", path.display());
            return ExitCode::FAILURE;
        }
        Err(_) => (
            SHIPPED.to_owned(),
            "proxy.yaml (built in)".to_owned(),
            PathBuf::new(),
        ),
    };
    eprintln!("consentry demo: the policy of {label}");
    let portal = match consentry::demo::start_sample_portal().await {
        Ok(addr) => addr,
        Err(e) => {
            eprintln!("consentry: cannot start the sample portal: {e}");
            return ExitCode::FAILURE;
        }
    };
    let config = match consentry::demo::demo_config(&text, &label, &base, portal, listen) {
        Ok(config) => config,
        Err(errors) => {
            eprintln!("{errors}");
            return ExitCode::FAILURE;
        }
    };
    let policy_path = config
        .sites
        .last()
        .map(|s| s.policy.path.clone())
        .unwrap_or_default();
    let running = match consentry::net::server::start(config, None).await {
        Ok(running) => running,
        Err(e) => {
            eprintln!("consentry: {e} (another address: consentry demo --listen 127.0.0.1:8081)");
            return ExitCode::FAILURE;
        }
    };
    println!(
        "{}",
        consentry::demo::instructions(running.http_addr.unwrap_or(listen), &policy_path)
    );
    if let Some(store) = running.proxy.records.store() {
        println!(
            "Consent records go to {}: `consentry records --config {}` prints them.\n",
            store.redacted(),
            if label.ends_with("(built in)") {
                "FILE (a copy of the shipped proxy.yaml)"
            } else {
                &label
            }
        );
    }
    // Ctrl-C, or SIGTERM from a container runtime or supervisor: both drain.
    let mut terminate =
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = async {
            match terminate.as_mut() {
                Some(signal) => {
                    signal.recv().await;
                }
                None => std::future::pending::<()>().await,
            }
        } => {}
    }
    running.shutdown().await;
    ExitCode::SUCCESS
}

async fn audit(admin: SocketAddr, json: bool) -> ExitCode {
    match consentry::ops::audit::fetch(admin).await {
        Ok(body) if json => print_out(&format!("{body}\n")),
        Ok(body) => match consentry::ops::audit::table(&body) {
            Ok(table) => print_out(&table),
            Err(e) => {
                eprintln!("consentry: the audit from {admin} is not readable: {e}");
                ExitCode::FAILURE
            }
        },
        Err(e) => {
            eprintln!("consentry: cannot read the audit from http://{admin}/cookies: {e}");
            ExitCode::FAILURE
        }
    }
}
