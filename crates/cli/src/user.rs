//! `user scram set|delete|describe`: SCRAM credentials as `kafka-configs --entity-type users`
//! manages them (AlterUserScramCredentials, DescribeUserScramCredentials). The salt is random
//! and the salted password is computed here: the password itself never goes to the broker.

use crate::commands::connect;
use crate::{CliError, Connect};
use clap::{Args, Subcommand};
use sluice_client::{ScramMechanism, ScramUpsertion};
use std::io::{BufRead, Write};
use std::path::PathBuf;

/// `user` and its actions.
#[derive(Debug, Args)]
pub struct UserArgs {
    #[command(flatten)]
    pub connect: Connect,
    #[command(subcommand)]
    pub action: UserAction,
}

/// What to manage about users.
#[derive(Debug, Subcommand)]
pub enum UserAction {
    /// SCRAM credentials (SCRAM-SHA-256, SCRAM-SHA-512).
    #[command(subcommand)]
    Scram(ScramAction),
}

/// SCRAM credential actions.
#[derive(Debug, Subcommand)]
pub enum ScramAction {
    /// Creates or replaces a user's credential for one mechanism.
    Set {
        /// User name.
        #[arg(long)]
        user: String,
        /// SCRAM-SHA-256 or SCRAM-SHA-512.
        #[arg(long, value_parser = parse_mechanism)]
        mechanism: ScramMechanism,
        /// The password (visible to other local users in the process list: prefer --password-file).
        #[arg(long, conflicts_with = "password_file", required_unless_present = "password_file")]
        password: Option<String>,
        /// A file whose first line is the password; - reads it from stdin.
        #[arg(long = "password-file", value_name = "FILE")]
        password_file: Option<PathBuf>,
        /// PBKDF2 iterations, 4096 to 16384.
        #[arg(long, default_value_t = 4096)]
        iterations: u32,
    },
    /// Deletes a user's credential for one mechanism.
    Delete {
        /// User name.
        #[arg(long)]
        user: String,
        /// SCRAM-SHA-256 or SCRAM-SHA-512.
        #[arg(long, value_parser = parse_mechanism)]
        mechanism: ScramMechanism,
    },
    /// Shows users' mechanisms and iteration counts (default: every user with a credential).
    Describe {
        /// User name (repeatable).
        #[arg(long)]
        user: Vec<String>,
    },
}

fn parse_mechanism(s: &str) -> Result<ScramMechanism, String> {
    ScramMechanism::from_name(&s.trim().to_ascii_uppercase())
        .ok_or_else(|| format!("'{s}' is not SCRAM-SHA-256 or SCRAM-SHA-512"))
}

fn read_password(path: &std::path::Path, input: &mut dyn BufRead) -> Result<String, CliError> {
    let mut line = String::new();
    if path.as_os_str() == "-" {
        input.read_line(&mut line)?;
    } else {
        let text = std::fs::read_to_string(path)
            .map_err(|e| CliError(format!("cannot read the password file {}: {e}", path.display())))?;
        line = text.lines().next().unwrap_or_default().to_owned();
    }
    let password = line.trim_end_matches(['\r', '\n']).to_owned();
    if password.is_empty() {
        return Err(CliError(format!("the password file {} is empty", path.display())));
    }
    Ok(password)
}

pub(crate) async fn user(args: UserArgs, input: &mut dyn BufRead, out: &mut dyn Write) -> Result<(), CliError> {
    let UserAction::Scram(action) = args.action;
    match action {
        ScramAction::Set {
            user,
            mechanism,
            password,
            password_file,
            iterations,
        } => {
            if !(ScramMechanism::MIN_ITERATIONS..=ScramMechanism::MAX_ITERATIONS).contains(&iterations) {
                return Err(CliError(format!(
                    "--iterations must be between {} and {}",
                    ScramMechanism::MIN_ITERATIONS,
                    ScramMechanism::MAX_ITERATIONS
                )));
            }
            let password = match (password, password_file) {
                (Some(p), _) => p,
                (None, Some(path)) => read_password(&path, input)?,
                (None, None) => return Err(CliError("give --password or --password-file".into())),
            };
            let client = connect(&args.connect).await?;
            client
                .alter_user_scram_credentials(
                    &[ScramUpsertion {
                        user: user.clone(),
                        mechanism,
                        iterations,
                        password,
                    }],
                    &[],
                )
                .await?;
            writeln!(out, "Completed updating config for user {user}.")?;
        }
        ScramAction::Delete { user, mechanism } => {
            let client = connect(&args.connect).await?;
            client
                .alter_user_scram_credentials(&[], &[(user.clone(), mechanism)])
                .await?;
            writeln!(out, "Completed updating config for user {user}.")?;
        }
        ScramAction::Describe { user } => {
            let client = connect(&args.connect).await?;
            let users = (!user.is_empty()).then_some(user.as_slice());
            for u in client.describe_user_scram_credentials(users).await? {
                let text: Vec<String> = u
                    .credentials
                    .iter()
                    .map(|(m, i)| format!("{}=iterations={i}", m.name()))
                    .collect();
                writeln!(
                    out,
                    "SCRAM credential configs for user-principal '{}' are {}",
                    u.user,
                    text.join(", ")
                )?;
            }
        }
    }
    Ok(())
}
