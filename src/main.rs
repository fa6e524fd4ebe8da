//! The `consentry` command: run the proxy, check a configuration, run the demo, or
//! print the cookie audit of a running instance.

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
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Held to the end of `main`: dropping it writes out the lines still queued.
    let _flush = logging::init(cli.log_format);
    match cli.command {
        Some(Command::Check) => check(&cli.config),
        Some(Command::Demo { listen }) => runtime().block_on(demo(&cli.config, listen)),
        Some(Command::Audit { admin, json }) => {
            let admin = admin
                .or_else(|| consentry::config::Config::load(&cli.config).ok()?.admin)
                .unwrap_or(SocketAddr::from(([127, 0, 0, 1], 9901)));
            runtime().block_on(audit(admin, json))
        }
        None => runtime().block_on(run(&cli.config)),
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
        Ok(config) => {
            print!("{}", config.summary());
            ExitCode::SUCCESS
        }
        Err(errors) => {
            eprintln!("{errors}");
            ExitCode::FAILURE
        }
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
        Ok(body) if json => {
            println!("{body}");
            ExitCode::SUCCESS
        }
        Ok(body) => match consentry::ops::audit::table(&body) {
            Ok(table) => {
                print!("{table}");
                ExitCode::SUCCESS
            }
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
