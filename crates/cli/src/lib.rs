//! `sluice-cli`: the admin CLI and benchmark tool, as clap subcommands over [`sluice_client`].
//! It speaks only the Kafka protocol, so it works against any Kafka-compatible broker.
//!
//! The `sluice` binary flattens [`Command`] into its own subcommands and calls [`run`]
//! (synchronous: it builds its own Tokio runtime). [`execute`] is the async core, with stdin and
//! stdout passed in so tests can drive it.

mod acl;
mod bench;
mod bench_groups;
mod commands;
mod group;
mod time;
mod user;

use clap::{Args, Subcommand};
use std::io::{BufRead, Write};
use std::process::ExitCode;

pub use acl::{AclAction, AclArgs, AclOptions, ResourcePatternArg};
pub use bench::{BenchArgs, BenchMode, BenchReport};
pub use commands::{ClusterArgs, ConsumeArgs, ProduceArgs, TopicAction, TopicArgs};
pub use group::{GroupAction, GroupArgs, TopicArg};
pub use user::{ScramAction, UserAction, UserArgs};

/// The CLI's subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Creates, lists, describes, alters and deletes topics.
    Topic(TopicArgs),
    /// Produces lines from stdin as records.
    Produce(ProduceArgs),
    /// Consumes records and prints them.
    Consume(ConsumeArgs),
    /// Describes the cluster: brokers, controller, cluster id.
    Cluster(ClusterArgs),
    /// Lists, describes and deletes consumer groups, resets and deletes their offsets.
    Group(GroupArgs),
    /// Measures produce, consume and end-to-end throughput and latency.
    Bench(BenchArgs),
    /// Creates, lists and deletes ACLs (like kafka-acls).
    Acl(AclArgs),
    /// Manages users' SCRAM credentials (like kafka-configs --entity-type users).
    User(UserArgs),
}

/// How to reach the cluster; every subcommand takes it.
#[derive(Debug, Clone, Args)]
pub struct Connect {
    /// Bootstrap brokers, host:port[,host:port].
    #[arg(
        short = 'b',
        long = "bootstrap-server",
        env = "SLUICE_BOOTSTRAP",
        default_value = "127.0.0.1:9092",
        global = true
    )]
    pub bootstrap: String,
    /// Request timeout in milliseconds.
    #[arg(long = "timeout-ms", default_value_t = 30_000, global = true)]
    pub timeout_ms: u64,
    /// Kafka client properties for every connection (security.protocol, sasl.mechanism,
    /// sasl.jaas.config or sasl.username/sasl.password, ssl.truststore.location,
    /// ssl.keystore.location, ssl.endpoint.identification.algorithm, ...), as kafka-*.sh
    /// --command-config takes them.
    #[arg(
        long = "command-config",
        value_name = "FILE",
        env = "SLUICE_COMMAND_CONFIG",
        global = true
    )]
    pub command_config: Option<std::path::PathBuf>,
}

impl Connect {
    /// The client configuration: bootstrap, timeout and the `--command-config` security.
    pub fn config(&self) -> Result<sluice_client::ClientConfig, CliError> {
        let mut config = sluice_client::ClientConfig::new(&self.bootstrap);
        config.client_id = "sluice-cli".into();
        config.request_timeout = std::time::Duration::from_millis(self.timeout_ms.max(1));
        if let Some(path) = &self.command_config {
            config.security = sluice_client::Security::from_properties_file(path)
                .map_err(|e| CliError(format!("--command-config {}: {e}", path.display())))?;
        }
        Ok(config)
    }
}

/// A failed command: one sentence (Kafka errors end with the error name in parentheses).
#[derive(Debug)]
pub struct CliError(pub String);

impl std::fmt::Display for CliError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for CliError {}

impl From<sluice_client::Error> for CliError {
    fn from(e: sluice_client::Error) -> CliError {
        CliError(e.to_string())
    }
}

impl From<std::io::Error> for CliError {
    fn from(e: std::io::Error) -> CliError {
        CliError(format!("I/O error: {e}"))
    }
}

/// Runs a command on a new multi-threaded Tokio runtime, printing to stdout and errors (one
/// sentence) to stderr. Exit code 0 on success, 1 on failure.
pub fn run(command: Command) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("sluice: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let stdin = std::io::stdin();
    let mut input = stdin.lock();
    let stdout = std::io::stdout();
    let mut output = std::io::LineWriter::new(stdout.lock());
    let result = runtime.block_on(execute(command, &mut input, &mut output));
    let _ = output.flush();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        // A closed stdout (`| head`) is not an error worth a message.
        Err(e) if e.0.contains("Broken pipe") => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sluice: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Runs a command, reading records (for `produce`) from `input` and writing to `output`.
pub async fn execute(command: Command, input: &mut dyn BufRead, output: &mut dyn Write) -> Result<(), CliError> {
    match command {
        Command::Topic(args) => commands::topic(args, output).await,
        Command::Produce(args) => commands::produce(args, input).await,
        Command::Consume(args) => commands::consume(args, output).await,
        Command::Cluster(args) => commands::cluster(args, output).await,
        Command::Group(args) => group::group(args, output).await,
        Command::Bench(args) => bench::bench(args, output).await,
        Command::Acl(args) => acl::acl(args, input, output).await,
        Command::User(args) => user::user(args, input, output).await,
    }
}
