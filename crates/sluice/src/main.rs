//! `sluice`: the broker (with its controller), the admin CLI and the benchmark tool in one binary.

mod listener_security;
mod meta_properties;

use clap::{Parser, Subcommand};
use sluice_broker::{Broker, BrokerSettings, ListenerSettings, Server};
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::process::ExitCode;
use tracing::{info, warn};

#[derive(Parser)]
#[command(name = "sluice", version, about = "A Kafka-compatible event streaming platform")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Runs a broker (broker and controller in one process, like KRaft combined mode).
    Serve {
        /// A Kafka server.properties file.
        #[arg(short = 'c', long = "config")]
        config: Option<PathBuf>,
        /// Sets a property, overriding the file and the environment (repeatable): -o key=value.
        #[arg(short = 'o', long = "override", value_name = "KEY=VALUE")]
        overrides: Vec<String>,
    },
    /// Prepares a data directory before the first start, as `kafka-storage format` does: writes
    /// its identity and the SCRAM users given with --add-scram, so a secured broker can be
    /// reached from its very first start.
    Format {
        /// A Kafka server.properties file (its log.dirs and node.id are used).
        #[arg(short = 'c', long = "config")]
        config: Option<PathBuf>,
        /// Sets a property, overriding the file and the environment (repeatable).
        #[arg(short = 'o', long = "override", value_name = "KEY=VALUE")]
        overrides: Vec<String>,
        /// A SCRAM user, in kafka-storage's syntax: 'SCRAM-SHA-256=[name=alice,password=alice-secret]'
        /// (or salt=, saltedpassword=, iterations=). Repeatable.
        #[arg(long = "add-scram", value_name = "MECHANISM=[name=...,password=...]")]
        add_scram: Vec<String>,
        /// Succeed without changes when the directory is already formatted.
        #[arg(long = "ignore-formatted")]
        ignore_formatted: bool,
    },
    /// The admin CLI and benchmark tool: a Kafka client that works against any Kafka-compatible
    /// cluster.
    #[command(flatten)]
    Cli(sluice_cli::Command),
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_env("SLUICE_LOG").unwrap_or_else(|_| "info".into()))
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let cli = Cli::parse();
    match cli.command {
        Command::Cli(command) => sluice_cli::run(command),
        Command::Format {
            config,
            overrides,
            add_scram,
            ignore_formatted,
        } => match format(config, overrides, &add_scram, ignore_formatted) {
            Ok(message) => {
                println!("{message}");
                ExitCode::SUCCESS
            }
            Err(message) => {
                eprintln!("sluice: {message}");
                ExitCode::from(2)
            }
        },
        Command::Serve { config, overrides } => match serve(config, overrides) {
            Ok(()) => ExitCode::SUCCESS,
            Err(message) => {
                eprintln!("sluice: {message}");
                ExitCode::from(2)
            }
        },
    }
}

/// `sluice format`: a data directory with its identity and bootstrap SCRAM users. Kafka refuses a
/// directory that is already formatted (its bootstrap records are written once); so does this,
/// unless --ignore-formatted, which then changes nothing.
fn format(
    config: Option<PathBuf>,
    overrides: Vec<String>,
    add_scram: &[String],
    ignore_formatted: bool,
) -> Result<String, String> {
    let env: Vec<(String, String)> = std::env::vars().collect();
    let cfg = sluice_config::load(config.as_deref(), &env, &overrides)
        .map_err(|e| e.to_string())?
        .config;
    let data_dir = cfg.log_dirs.first().cloned().ok_or("log.dirs is empty")?;
    if data_dir.join(meta_properties::FILE_NAME).exists() {
        let message = format!("{} is already formatted", data_dir.display());
        return if ignore_formatted {
            Ok(message)
        } else {
            Err(format!("{message} (use --ignore-formatted)"))
        };
    }
    // Parse every user before writing anything: a typo must not leave a half-formatted directory.
    let mut records = Vec::new();
    for arg in add_scram {
        let (mechanism, name, c) =
            sluice_security::scram::parse_add_scram(arg).map_err(|e| format!("--add-scram: {e}"))?;
        records.push(sluice_metadata::MetadataRecord::ScramCredential(
            sluice_metadata::ScramCredentialEntry {
                name,
                mechanism: mechanism.code(),
                salt: c.salt,
                stored_key: c.stored_key,
                server_key: c.server_key,
                iterations: i32::try_from(c.iterations).map_err(|_| "--add-scram: too many iterations")?,
            },
        ));
    }
    let meta = meta_properties::load_or_create(&data_dir, cfg.node_id).map_err(|e| e.to_string())?;
    if !records.is_empty() {
        let mut store = sluice_metadata::MetadataStore::open(&data_dir.join(sluice_broker::context::METADATA_DIR))
            .map_err(|e| format!("cannot open the metadata log: {e}"))?;
        store
            .commit(&records)
            .map_err(|e| format!("cannot store the SCRAM users: {e}"))?;
    }
    Ok(format!(
        "Formatted {} for cluster {} with {} SCRAM credential(s)",
        data_dir.display(),
        meta.cluster_id,
        records.len()
    ))
}

/// Resolves a listener's bind address; an empty host means every interface.
fn bind_address(host: &str, port: u16) -> Result<SocketAddr, String> {
    let host = if host.is_empty() { "0.0.0.0" } else { host };
    (host, port)
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve listener host {host}: {e}"))?
        .next()
        .ok_or_else(|| format!("listener host {host} has no address"))
}

/// Raises the soft open-files limit to the hard one, as the JVM does for Kafka (`MaxFDLimit`):
/// every connection and every open segment takes a descriptor, and the common soft default of
/// 1,024 would refuse connections far below `max.connections`.
fn raise_open_files_limit() {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit only read and write the struct passed by pointer.
    let raised = unsafe {
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 && limit.rlim_cur < limit.rlim_max && {
            let wanted = libc::rlimit {
                rlim_cur: limit.rlim_max,
                rlim_max: limit.rlim_max,
            };
            libc::setrlimit(libc::RLIMIT_NOFILE, &wanted) == 0
        }
    };
    if raised {
        info!(
            from = limit.rlim_cur,
            to = limit.rlim_max,
            "raised the open-files limit"
        );
    }
}

fn serve(config: Option<PathBuf>, overrides: Vec<String>) -> Result<(), String> {
    raise_open_files_limit();
    let env: Vec<(String, String)> = std::env::vars().collect();
    let loaded = sluice_config::load(config.as_deref(), &env, &overrides).map_err(|e| e.to_string())?;
    for warning in &loaded.warnings {
        warn!("{warning}");
    }
    let cfg = loaded.config;
    let data_dir = cfg.log_dirs.first().cloned().ok_or("log.dirs is empty")?;
    let meta = meta_properties::load_or_create(&data_dir, cfg.node_id).map_err(|e| e.to_string())?;
    info!(cluster_id = %meta.cluster_id, node_id = meta.node_id, dir = %data_dir.display(), "data directory ready");

    // The runtime comes first: an OAUTHBEARER validator starts its JWKS refresh task while the
    // listeners are built.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let _entered = runtime.enter();
    let mut listeners = Vec::new();
    for l in cfg
        .listeners
        .iter()
        .filter(|l| !cfg.controller_listener_names.contains(&l.name))
    {
        let advertised = cfg.advertised_listener(&l.name);
        let security = listener_security::build(&cfg.security, &l.name, l.security_protocol)?;
        listeners.push(ListenerSettings {
            name: l.name.clone(),
            bind: bind_address(&l.host, l.port)?,
            advertised_host: advertised.map(|a| a.host.clone()).filter(|h| !h.is_empty()),
            advertised_port: advertised.map(|a| a.port).filter(|p| *p != 0),
            security_protocol: l.security_protocol,
            sasl: security.sasl,
            tls: security.tls,
            principal_mapper: security.principal_mapper,
        });
    }
    let settings = BrokerSettings {
        node_id: cfg.node_id,
        cluster_id: meta.cluster_id.clone(),
        listeners,
        socket_request_max_bytes: usize::try_from(cfg.socket_request_max_bytes).unwrap_or(0),
        queued_max_request_bytes: usize::try_from(cfg.queued_max_request_bytes).unwrap_or(usize::MAX),
        queued_max_response_bytes: usize::try_from(cfg.queued_max_response_bytes).unwrap_or(usize::MAX),
        max_connections: usize::try_from(cfg.max_connections).unwrap_or(0),
        max_connections_per_ip: usize::try_from(cfg.max_connections_per_ip).unwrap_or(0),
        max_connection_creation_rate: u32::try_from(cfg.max_connection_creation_rate).unwrap_or(0),
        connections_max_idle_ms: u64::try_from(cfg.connections_max_idle_ms).unwrap_or(u64::MAX),
        num_partitions: cfg.num_partitions,
        default_replication_factor: i16::try_from(cfg.default_replication_factor).unwrap_or(i16::MAX),
        auto_create_topics_enable: cfg.auto_create_topics_enable,
        fetch_max_bytes: usize::try_from(cfg.fetch_max_bytes).unwrap_or(55 * 1024 * 1024),
        delete_topic_enable: cfg.delete_topic_enable,
        config: cfg.clone(),
        log_config: sluice_storage::LogConfig {
            segment_bytes: u64::try_from(cfg.log_segment_bytes).unwrap_or(1 << 30),
            segment_ms: cfg.log_roll_ms,
            retention_ms: cfg.log_retention_ms,
            retention_bytes: cfg.log_retention_bytes,
            index_interval_bytes: u64::try_from(cfg.log_index_interval_bytes).unwrap_or(4096),
            flush_messages: cfg.log_flush_interval_messages,
            flush_ms: cfg.log_flush_interval_ms,
            max_message_bytes: usize::try_from(cfg.message_max_bytes).unwrap_or(1_048_588),
            delete_retention_ms: cfg.log_cleaner_delete_retention_ms,
            cleanup_policy: match (cfg.log_cleanup_policy.compact, cfg.log_cleanup_policy.delete) {
                (true, true) => sluice_storage::CleanupPolicy::CompactDelete,
                (true, false) => sluice_storage::CleanupPolicy::Compact,
                _ => sluice_storage::CleanupPolicy::Delete,
            },
            message_timestamp_type: match cfg.log_message_timestamp_type {
                sluice_config::TimestampType::LogAppendTime => sluice_protocol::records::TimestampType::LogAppendTime,
                sluice_config::TimestampType::CreateTime => sluice_protocol::records::TimestampType::CreateTime,
            },
        },
        groups: sluice_group::GroupConfig {
            initial_rebalance_delay_ms: i64::from(cfg.group_initial_rebalance_delay_ms),
            min_session_timeout_ms: cfg.group_min_session_timeout_ms,
            max_session_timeout_ms: cfg.group_max_session_timeout_ms,
            max_size: usize::try_from(cfg.group_max_size).unwrap_or(usize::MAX),
            offsets_retention_ms: i64::from(cfg.offsets_retention_minutes) * 60_000,
            offset_metadata_max_bytes: usize::try_from(cfg.offset_metadata_max_bytes).unwrap_or(4096),
            consumer_session_timeout_ms: cfg.group_consumer_session_timeout_ms,
            consumer_heartbeat_interval_ms: cfg.group_consumer_heartbeat_interval_ms,
            consumer_max_size: usize::try_from(cfg.group_consumer_max_size).unwrap_or(usize::MAX),
            // The config check admits only the assignors sluice-group implements.
            consumer_assignors: cfg.group_consumer_assignors.clone(),
            // The config check admits only Kafka's policy names.
            migration_policy: sluice_group::MigrationPolicy::parse(&cfg.group_consumer_migration_policy)
                .unwrap_or(sluice_group::MigrationPolicy::Bidirectional),
            ..sluice_group::GroupConfig::default()
        },
        offsets_topic_num_partitions: cfg.offsets_topic_num_partitions,
        offsets_retention_check_interval_ms: cfg.offsets_retention_check_interval_ms,
        authorizer: listener_security::authorizer(&cfg.security)?,
        ..BrokerSettings::default()
    };

    runtime.block_on(async move {
        let broker = Broker::open(settings, &data_dir).map_err(|e| format!("cannot open the metadata log: {e}"))?;
        // Handlers first: a SIGTERM that arrives right after "ready" must stop the broker cleanly.
        let signals = Signals::install();
        let server = Server::start(broker).await.map_err(|e| format!("cannot listen: {e}"))?;
        for (name, addr) in &server.bound {
            info!(listener = %name, %addr, "sluice is ready");
        }
        signals.wait().await;
        info!("shutting down");
        server.shutdown().await;
        info!("stopped");
        Ok(())
    })
}

/// SIGTERM and SIGINT handlers, installed before the broker announces itself.
struct Signals(Option<(tokio::signal::unix::Signal, tokio::signal::unix::Signal)>);

impl Signals {
    fn install() -> Signals {
        use tokio::signal::unix::{SignalKind, signal};
        match (signal(SignalKind::terminate()), signal(SignalKind::interrupt())) {
            (Ok(term), Ok(int)) => Signals(Some((term, int))),
            // Without handlers the broker still runs; it stops when killed.
            _ => Signals(None),
        }
    }

    /// Returns on SIGTERM or SIGINT.
    async fn wait(self) {
        let Some((mut term, mut int)) = self.0 else {
            return std::future::pending().await;
        };
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
    }
}
