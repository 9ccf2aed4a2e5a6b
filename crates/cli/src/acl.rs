//! `acl create|list|delete`: kafka-acls over CreateAcls, DescribeAcls and DeleteAcls, with its
//! options, its `--producer`/`--consumer` expansion and its output.

use crate::commands::connect;
use crate::{CliError, Connect};
use clap::{Args, Subcommand, ValueEnum};
use sluice_client::{AclBinding, AclBindingFilter, AclOperation, AclPermissionType, PatternType, ResourceType};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::io::{BufRead, Write};

/// The only name a CLUSTER resource has.
const CLUSTER_NAME: &str = "kafka-cluster";

/// `acl` and its actions.
#[derive(Debug, Args)]
pub struct AclArgs {
    #[command(flatten)]
    pub connect: Connect,
    #[command(subcommand)]
    pub action: AclAction,
}

/// What to do with ACLs.
#[derive(Debug, Subcommand)]
pub enum AclAction {
    /// Adds ACLs (kafka-acls --add).
    Create(Box<AclOptions>),
    /// Lists ACLs, of the given resources or all (kafka-acls --list).
    List(Box<AclOptions>),
    /// Removes ACLs: the given entries, or every ACL of the given resources (kafka-acls --remove).
    Delete(Box<AclOptions>),
}

/// kafka-acls' resource and entry options.
#[derive(Debug, Clone, Default, Args)]
pub struct AclOptions {
    /// Principal to allow, Type:name, e.g. User:alice; User:* is every user (repeatable).
    #[arg(long = "allow-principal", value_name = "TYPE:NAME", value_parser = parse_principal)]
    pub allow_principals: Vec<String>,
    /// Principal to deny, Type:name; DENY beats ALLOW (repeatable).
    #[arg(long = "deny-principal", value_name = "TYPE:NAME", value_parser = parse_principal)]
    pub deny_principals: Vec<String>,
    /// Host the allowed principals may connect from (default * when a principal is given).
    #[arg(long = "allow-host", value_name = "HOST")]
    pub allow_hosts: Vec<String>,
    /// Host the denied principals are refused from (default * when a principal is given).
    #[arg(long = "deny-host", value_name = "HOST")]
    pub deny_hosts: Vec<String>,
    /// Operation allowed or denied: All, Read, Write, Create, Delete, Alter, Describe,
    /// ClusterAction, DescribeConfigs, AlterConfigs, IdempotentWrite, CreateTokens,
    /// DescribeTokens, TwoPhaseCommit (repeatable; default All).
    #[arg(long = "operation", value_name = "OPERATION", value_parser = parse_operation)]
    pub operations: Vec<AclOperation>,
    /// Topic the ACLs are for; * is every topic (repeatable).
    #[arg(long = "topic", value_name = "TOPIC")]
    pub topics: Vec<String>,
    /// Consumer group the ACLs are for; * is every group (repeatable).
    #[arg(long = "group", value_name = "GROUP")]
    pub groups: Vec<String>,
    /// ACLs on the cluster.
    #[arg(long)]
    pub cluster: bool,
    /// Transactional id the ACLs are for; * is every one (repeatable).
    #[arg(long = "transactional-id", value_name = "ID")]
    pub transactional_ids: Vec<String>,
    /// literal or prefixed to create; also any or match to list and delete.
    #[arg(long = "resource-pattern-type", value_enum, default_value_t = ResourcePatternArg::Literal)]
    pub pattern_type: ResourcePatternArg,
    /// Producer role: WRITE, DESCRIBE, CREATE on the topics (WRITE, DESCRIBE on transactional
    /// ids; IDEMPOTENT_WRITE on the cluster with --idempotent).
    #[arg(long)]
    pub producer: bool,
    /// Consumer role: READ, DESCRIBE on the topics and READ on the group.
    #[arg(long)]
    pub consumer: bool,
    /// With --producer: also IDEMPOTENT_WRITE on the cluster.
    #[arg(long)]
    pub idempotent: bool,
    /// list: only the ACLs of this principal (repeatable).
    #[arg(long = "principal", value_name = "TYPE:NAME", value_parser = parse_principal)]
    pub principals: Vec<String>,
    /// delete: do not ask for confirmation.
    #[arg(long)]
    pub force: bool,
}

/// `--resource-pattern-type`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, ValueEnum)]
pub enum ResourcePatternArg {
    /// The resource name exactly (or * for all).
    #[default]
    Literal,
    /// Every resource whose name starts with the given one.
    Prefixed,
    /// Filter: every pattern that matches the name (literal, * and prefixes).
    Match,
    /// Filter: any pattern type with exactly this name.
    Any,
}

impl From<ResourcePatternArg> for PatternType {
    fn from(p: ResourcePatternArg) -> PatternType {
        match p {
            ResourcePatternArg::Literal => PatternType::Literal,
            ResourcePatternArg::Prefixed => PatternType::Prefixed,
            ResourcePatternArg::Match => PatternType::Match,
            ResourcePatternArg::Any => PatternType::Any,
        }
    }
}

/// A resource pattern (or, with MATCH/ANY, a pattern filter), printed as Kafka's
/// `ResourcePattern` is.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Resource {
    /// The resource type.
    pub resource_type: ResourceType,
    /// The name.
    pub name: String,
    /// The pattern type.
    pub pattern_type: PatternType,
}

impl fmt::Display for Resource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "ResourcePattern(resourceType={}, name={}, patternType={})",
            self.resource_type, self.name, self.pattern_type
        )
    }
}

/// An access-control entry, printed as Kafka's `AccessControlEntry` is.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Entry {
    /// Type:name.
    pub principal: String,
    /// Host or *.
    pub host: String,
    /// The operation.
    pub operation: AclOperation,
    /// ALLOW or DENY.
    pub permission: AclPermissionType,
}

impl fmt::Display for Entry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "(principal={}, host={}, operation={}, permissionType={})",
            self.principal, self.host, self.operation, self.permission
        )
    }
}

fn parse_principal(s: &str) -> Result<String, String> {
    let s = s.trim();
    match s.split_once(':') {
        Some((t, n)) if !t.is_empty() && !n.is_empty() => Ok(s.to_owned()),
        _ => Err(format!(
            "expected a string in format principalType:principalName but got {s}"
        )),
    }
}

fn parse_operation(s: &str) -> Result<AclOperation, String> {
    let wanted: String = s.trim().chars().filter(|c| *c != '_' && *c != '-').collect();
    AclOperation::VALUES
        .iter()
        .copied()
        .filter(|o| !matches!(o, AclOperation::Unknown | AclOperation::Any))
        .find(|o| o.kafka_name().replace('_', "").eq_ignore_ascii_case(&wanted))
        .ok_or_else(|| format!("'{s}' is not an ACL operation"))
}

fn usage(message: &str) -> CliError {
    CliError(message.to_owned())
}

impl AclOptions {
    fn pattern_type(&self) -> PatternType {
        self.pattern_type.into()
    }

    /// kafka-acls' `getResourceFilter`: the resources named on the command line.
    pub fn resources(&self, required: bool) -> Result<BTreeSet<Resource>, CliError> {
        let pattern_type = self.pattern_type();
        let resource = |resource_type, name: &str| Resource {
            resource_type,
            name: name.trim().to_owned(),
            pattern_type,
        };
        let mut out = BTreeSet::new();
        out.extend(self.topics.iter().map(|t| resource(ResourceType::Topic, t)));
        if pattern_type == PatternType::Literal && (self.cluster || self.idempotent) {
            out.insert(resource(ResourceType::Cluster, CLUSTER_NAME));
        }
        out.extend(self.groups.iter().map(|g| resource(ResourceType::Group, g)));
        out.extend(
            self.transactional_ids
                .iter()
                .map(|t| resource(ResourceType::TransactionalId, t)),
        );
        if out.is_empty() && required {
            return Err(usage(
                "You must provide at least one resource: --topic <topic> or --cluster or --group <group> or \
                 --transactional-id <id>",
            ));
        }
        Ok(out)
    }

    /// The entries for `operations`: each allowed principal from each allowed host, each denied
    /// principal from each denied host.
    fn entries(&self, operations: &[AclOperation]) -> BTreeSet<Entry> {
        let hosts = |hosts: &[String], principals: &[String]| -> Vec<String> {
            if !hosts.is_empty() {
                hosts.iter().map(|h| h.trim().to_owned()).collect()
            } else if !principals.is_empty() {
                vec!["*".to_owned()]
            } else {
                Vec::new()
            }
        };
        let mut out = BTreeSet::new();
        for (principals, hosts, permission) in [
            (
                &self.allow_principals,
                hosts(&self.allow_hosts, &self.allow_principals),
                AclPermissionType::Allow,
            ),
            (
                &self.deny_principals,
                hosts(&self.deny_hosts, &self.deny_principals),
                AclPermissionType::Deny,
            ),
        ] {
            for principal in principals {
                for &operation in operations {
                    for host in &hosts {
                        out.insert(Entry {
                            principal: principal.clone(),
                            host: host.clone(),
                            operation,
                            permission,
                        });
                    }
                }
            }
        }
        out
    }

    fn check(&self) -> Result<(), CliError> {
        if self.producer && self.topics.is_empty() {
            return Err(usage("With --producer you must specify a --topic"));
        }
        if self.idempotent && !self.producer {
            return Err(usage("The --idempotent option is only available if --producer is set"));
        }
        if self.consumer
            && (self.topics.is_empty()
                || self.groups.is_empty()
                || (!self.producer && (self.cluster || !self.transactional_ids.is_empty())))
        {
            return Err(usage(
                "With --consumer you must specify a --topic and a --group and no --cluster or --transactional-id \
                 option should be specified.",
            ));
        }
        Ok(())
    }

    /// kafka-acls' `getResourceFilterToAcls`: each resource with the entries to add or remove,
    /// after the `--producer`/`--consumer` expansion.
    pub fn resource_acls(&self) -> Result<BTreeMap<Resource, BTreeSet<Entry>>, CliError> {
        use AclOperation::*;
        self.check()?;
        let mut out: BTreeMap<Resource, BTreeSet<Entry>> = BTreeMap::new();
        let resources = self.resources(true)?;
        let of_type = |t: ResourceType| resources.iter().filter(move |r| r.resource_type == t);
        if !self.producer && !self.consumer {
            let operations = if self.operations.is_empty() {
                vec![All]
            } else {
                self.operations.clone()
            };
            let entries = self.entries(&operations);
            for r in &resources {
                out.insert(r.clone(), entries.clone());
            }
        }
        if self.producer {
            for topic in of_type(ResourceType::Topic) {
                out.insert(topic.clone(), self.entries(&[Write, Describe, Create]));
            }
            for id in of_type(ResourceType::TransactionalId) {
                out.insert(id.clone(), self.entries(&[Write, Describe]));
            }
            if self.idempotent {
                let cluster = Resource {
                    resource_type: ResourceType::Cluster,
                    name: CLUSTER_NAME.into(),
                    pattern_type: PatternType::Literal,
                };
                out.insert(cluster, self.entries(&[IdempotentWrite]));
            }
        }
        if self.consumer {
            for topic in of_type(ResourceType::Topic) {
                out.entry(topic.clone())
                    .or_default()
                    .extend(self.entries(&[Read, Describe]));
            }
            for group in of_type(ResourceType::Group) {
                out.entry(group.clone()).or_default().extend(self.entries(&[Read]));
            }
        }
        for (resource, entries) in &out {
            let supported = resource.resource_type.supported_operations();
            if entries
                .iter()
                .any(|e| e.operation != All && !supported.contains(&e.operation))
            {
                let mut valid: Vec<&str> = supported.iter().map(|o| o.kafka_name()).collect();
                valid.push("ALL");
                return Err(usage(&format!(
                    "ResourceType {} only supports operations {}",
                    resource.resource_type,
                    valid.join(", ")
                )));
            }
        }
        Ok(out)
    }
}

fn filter(resource: &Resource, entry: Option<&Entry>) -> AclBindingFilter {
    AclBindingFilter {
        resource_type: resource.resource_type,
        resource_name: Some(resource.name.clone()),
        pattern_type: resource.pattern_type,
        principal: entry.map(|e| e.principal.clone()),
        host: entry.map(|e| e.host.clone()),
        operation: entry.map_or(AclOperation::Any, |e| e.operation),
        permission: entry.map_or(AclPermissionType::Any, |e| e.permission),
    }
}

fn split(binding: AclBinding) -> (Resource, Entry) {
    (
        Resource {
            resource_type: binding.resource_type,
            name: binding.resource_name,
            pattern_type: binding.pattern_type,
        },
        Entry {
            principal: binding.principal,
            host: binding.host,
            operation: binding.operation,
            permission: binding.permission,
        },
    )
}

fn binding(resource: &Resource, entry: &Entry) -> AclBinding {
    AclBinding::new(
        resource.resource_type,
        resource.name.clone(),
        resource.pattern_type,
        entry.principal.clone(),
        entry.host.clone(),
        entry.operation,
        entry.permission,
    )
}

/// kafka-acls' listing: a header per resource, a tab-indented entry per line, a blank line.
fn print_resource_acls(out: &mut dyn Write, acls: &BTreeMap<Resource, BTreeSet<Entry>>) -> std::io::Result<()> {
    for (resource, entries) in acls {
        writeln!(out, "Current ACLs for resource `{resource}`:")?;
        for e in entries {
            writeln!(out, "\t{e}")?;
        }
        writeln!(out)?;
    }
    Ok(())
}

pub(crate) async fn acl(args: AclArgs, input: &mut dyn BufRead, out: &mut dyn Write) -> Result<(), CliError> {
    match args.action {
        AclAction::Create(opts) => {
            if !matches!(
                opts.pattern_type,
                ResourcePatternArg::Literal | ResourcePatternArg::Prefixed
            ) {
                return Err(usage(&format!(
                    "A '--resource-pattern-type' value of '{}' is not valid when adding acls.",
                    PatternType::from(opts.pattern_type)
                )));
            }
            let acls = opts.resource_acls()?;
            if acls.values().any(BTreeSet::is_empty) {
                return Err(usage(
                    "You must specify one of: --allow-principal, --deny-principal when trying to add ACLs.",
                ));
            }
            let client = connect(&args.connect).await?;
            for (resource, entries) in acls {
                let existing: BTreeSet<Entry> = client
                    .describe_acls(&filter(&resource, None))
                    .await?
                    .into_iter()
                    .map(split)
                    .filter(|(r, _)| *r == resource)
                    .map(|(_, e)| e)
                    .collect();
                let mut new = Vec::new();
                for e in &entries {
                    if existing.contains(e) {
                        writeln!(out, "Acl {} already exists.", binding(&resource, e))?;
                    } else {
                        new.push(e);
                    }
                }
                if new.is_empty() {
                    continue;
                }
                let lines: Vec<String> = new.iter().map(|e| format!("\t{e}")).collect();
                writeln!(out, "Adding ACLs for resource `{resource}`: \n {}\n", lines.join("\n"))?;
                let bindings: Vec<AclBinding> = new.iter().map(|e| binding(&resource, e)).collect();
                client.create_acls(&bindings).await?;
            }
            Ok(())
        }
        AclAction::List(opts) => {
            let client = connect(&args.connect).await?;
            let filters: Vec<AclBindingFilter> = {
                let resources = opts.resources(false)?;
                if resources.is_empty() {
                    vec![AclBindingFilter::ANY]
                } else {
                    resources.iter().map(|r| filter(r, None)).collect()
                }
            };
            let mut acls: BTreeMap<Resource, BTreeSet<Entry>> = BTreeMap::new();
            for f in &filters {
                for b in client.describe_acls(f).await? {
                    let (r, e) = split(b);
                    acls.entry(r).or_default().insert(e);
                }
            }
            if opts.principals.is_empty() {
                print_resource_acls(out, &acls)?;
            } else {
                for principal in &opts.principals {
                    writeln!(out, "ACLs for principal `{principal}`")?;
                    let mine: BTreeMap<Resource, BTreeSet<Entry>> = acls
                        .iter()
                        .map(|(r, es)| {
                            (
                                r.clone(),
                                es.iter()
                                    .filter(|e| e.principal == *principal)
                                    .cloned()
                                    .collect::<BTreeSet<_>>(),
                            )
                        })
                        .filter(|(_, es)| !es.is_empty())
                        .collect();
                    print_resource_acls(out, &mine)?;
                }
            }
            Ok(())
        }
        AclAction::Delete(opts) => {
            let acls = opts.resource_acls()?;
            let client = connect(&args.connect).await?;
            for (resource, entries) in acls {
                if !opts.force {
                    if entries.is_empty() {
                        writeln!(
                            out,
                            "Are you sure you want to delete all ACLs for resource filter `{resource}`? (y/n)"
                        )?;
                    } else {
                        let lines: Vec<String> = entries.iter().map(|e| format!("\t{e}")).collect();
                        writeln!(
                            out,
                            "Are you sure you want to remove ACLs: \n {}\n from resource filter `{resource}`? (y/n)",
                            lines.join("\n")
                        )?;
                    }
                    out.flush()?;
                    let mut answer = String::new();
                    input.read_line(&mut answer)?;
                    if !answer.trim().eq_ignore_ascii_case("y") {
                        continue;
                    }
                }
                let filters: Vec<AclBindingFilter> = if entries.is_empty() {
                    vec![filter(&resource, None)]
                } else {
                    entries.iter().map(|e| filter(&resource, Some(e))).collect()
                };
                let mut removed: BTreeMap<Resource, BTreeSet<Entry>> = BTreeMap::new();
                for b in client.delete_acls(&filters).await? {
                    let (r, e) = split(b);
                    removed.entry(r).or_default().insert(e);
                }
                for (r, es) in &removed {
                    writeln!(out, "Removed ACLs for resource `{r}`:")?;
                    for e in es {
                        writeln!(out, "\t{e}")?;
                    }
                    writeln!(out)?;
                }
            }
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(subcommand)]
        action: AclAction,
    }

    fn opts(args: &[&str]) -> AclOptions {
        let mut argv = vec!["acl"];
        argv.extend_from_slice(args);
        match Cli::try_parse_from(argv).unwrap().action {
            AclAction::Create(o) | AclAction::List(o) | AclAction::Delete(o) => *o,
        }
    }

    fn rendered(acls: &BTreeMap<Resource, BTreeSet<Entry>>) -> Vec<String> {
        acls.iter()
            .flat_map(|(r, es)| es.iter().map(move |e| format!("{r} {e}")))
            .collect()
    }

    fn topic(name: &str) -> String {
        format!("ResourcePattern(resourceType=TOPIC, name={name}, patternType=LITERAL)")
    }

    #[test]
    fn producer_expands_to_write_describe_create_and_idempotent_write() {
        let o = opts(&[
            "create",
            "--producer",
            "--idempotent",
            "--topic",
            "orders",
            "--allow-principal",
            "User:alice",
        ]);
        let acls = o.resource_acls().unwrap();
        let cluster = "ResourcePattern(resourceType=CLUSTER, name=kafka-cluster, patternType=LITERAL)";
        let entry = |op: &str| format!("(principal=User:alice, host=*, operation={op}, permissionType=ALLOW)");
        assert_eq!(
            rendered(&acls),
            vec![
                format!("{} {}", topic("orders"), entry("WRITE")),
                format!("{} {}", topic("orders"), entry("CREATE")),
                format!("{} {}", topic("orders"), entry("DESCRIBE")),
                format!("{cluster} {}", entry("IDEMPOTENT_WRITE")),
            ]
        );
    }

    #[test]
    fn consumer_expands_to_read_describe_on_topic_and_read_on_group() {
        let o = opts(&[
            "create",
            "--consumer",
            "--topic",
            "orders",
            "--group",
            "billing",
            "--allow-principal",
            "User:bob",
            "--allow-host",
            "10.0.0.1",
        ]);
        let acls = o.resource_acls().unwrap();
        let entry = |op: &str| format!("(principal=User:bob, host=10.0.0.1, operation={op}, permissionType=ALLOW)");
        assert_eq!(
            rendered(&acls),
            vec![
                format!("{} {}", topic("orders"), entry("READ")),
                format!("{} {}", topic("orders"), entry("DESCRIBE")),
                format!(
                    "ResourcePattern(resourceType=GROUP, name=billing, patternType=LITERAL) {}",
                    entry("READ")
                ),
            ]
        );
    }

    #[test]
    fn producer_and_consumer_together_merge_topic_entries() {
        let o = opts(&[
            "create",
            "--producer",
            "--consumer",
            "--topic",
            "t",
            "--group",
            "g",
            "--allow-principal",
            "User:c",
        ]);
        let acls = o.resource_acls().unwrap();
        let ops: Vec<AclOperation> = acls
            .iter()
            .find(|(r, _)| r.resource_type == ResourceType::Topic)
            .unwrap()
            .1
            .iter()
            .map(|e| e.operation)
            .collect();
        use AclOperation::*;
        assert_eq!(ops, vec![Read, Write, Create, Describe]);
    }

    #[test]
    fn explicit_operations_principals_and_hosts() {
        let o = opts(&[
            "create",
            "--topic",
            "a",
            "--topic",
            "b",
            "--resource-pattern-type",
            "prefixed",
            "--operation",
            "Read",
            "--operation",
            "describe_configs",
            "--allow-principal",
            "User:x",
            "--deny-principal",
            "User:y",
            "--deny-host",
            "1.2.3.4",
        ]);
        let acls = o.resource_acls().unwrap();
        assert_eq!(acls.len(), 2);
        let (r, entries) = acls.iter().next().unwrap();
        assert_eq!(
            r.to_string(),
            "ResourcePattern(resourceType=TOPIC, name=a, patternType=PREFIXED)"
        );
        let lines: Vec<String> = entries.iter().map(ToString::to_string).collect();
        assert_eq!(
            lines,
            vec![
                "(principal=User:x, host=*, operation=READ, permissionType=ALLOW)",
                "(principal=User:x, host=*, operation=DESCRIBE_CONFIGS, permissionType=ALLOW)",
                "(principal=User:y, host=1.2.3.4, operation=READ, permissionType=DENY)",
                "(principal=User:y, host=1.2.3.4, operation=DESCRIBE_CONFIGS, permissionType=DENY)",
            ]
        );
        // Without --operation: ALL.
        let o = opts(&["create", "--cluster", "--allow-principal", "User:admin"]);
        let acls = o.resource_acls().unwrap();
        assert_eq!(
            rendered(&acls),
            vec![
                "ResourcePattern(resourceType=CLUSTER, name=kafka-cluster, patternType=LITERAL) \
                 (principal=User:admin, host=*, operation=ALL, permissionType=ALLOW)"
            ]
        );
    }

    #[test]
    fn kafka_acls_usage_errors() {
        let err = |args: &[&str]| opts(args).resource_acls().unwrap_err().0;
        assert_eq!(
            err(&["create", "--producer", "--allow-principal", "User:a"]),
            "With --producer you must specify a --topic"
        );
        assert!(
            err(&["create", "--consumer", "--topic", "t", "--allow-principal", "User:a"])
                .starts_with("With --consumer")
        );
        assert!(err(&["create", "--topic", "t", "--idempotent"]).contains("--idempotent"));
        assert!(err(&["create", "--allow-principal", "User:a"]).starts_with("You must provide at least one resource"));
        assert!(
            err(&[
                "create",
                "--group",
                "g",
                "--operation",
                "Write",
                "--allow-principal",
                "User:a"
            ])
            .starts_with("ResourceType GROUP only supports operations READ, DESCRIBE, DELETE")
        );
        let mut argv = vec!["acl", "create", "--topic", "t", "--allow-principal", "alice"];
        assert!(Cli::try_parse_from(&argv).is_err());
        argv[5] = "User:alice";
        argv.extend(["--operation", "Fly"]);
        assert!(Cli::try_parse_from(&argv).is_err());
    }

    #[test]
    fn delete_without_entries_means_every_acl_of_the_resource() {
        let o = opts(&["delete", "--topic", "t", "--resource-pattern-type", "match", "--force"]);
        let acls = o.resource_acls().unwrap();
        let (r, entries) = acls.iter().next().unwrap();
        assert_eq!(r.pattern_type, PatternType::Match);
        assert!(entries.is_empty());
        let f = filter(r, None);
        assert_eq!(f.operation, AclOperation::Any);
        assert_eq!(f.principal, None);
    }
}
