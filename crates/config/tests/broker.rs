use sluice_config::*;

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

fn ov(args: &[&str]) -> Vec<String> {
    args.iter().map(|s| s.to_string()).collect()
}

fn err(file: &str) -> ConfigError {
    load_from_str(Some(file), &[], &[]).unwrap_err()
}

fn assert_names(e: &ConfigError, key: &str, value: &str, allowed: &str) {
    let s = e.to_string();
    assert!(s.contains(&format!("'{key}'")), "{s}");
    assert!(s.contains(value), "{s}");
    assert!(s.contains(allowed), "{s}");
    assert!(s.ends_with('.'), "{s}");
}

#[test]
fn defaults_match_kafka_and_sluice_choices() {
    let c = BrokerConfig::defaults().unwrap();
    assert_eq!(c.node_id, 1);
    assert_eq!(c.listeners.len(), 1);
    assert_eq!(c.listeners[0].name, "PLAINTEXT");
    assert_eq!(c.listeners[0].host, "127.0.0.1");
    assert_eq!(c.listeners[0].port, 9092);
    assert_eq!(c.advertised_listeners, c.listeners);
    assert_eq!(c.listener_security_protocol_map.len(), 5);
    assert_eq!(
        c.listener_security_protocol_map["CONTROLLER"],
        SecurityProtocol::Plaintext
    );
    assert_eq!(c.inter_broker_listener_name, "PLAINTEXT");
    assert_eq!(c.log_dirs, vec![std::path::PathBuf::from("./sluice-data")]);
    assert_eq!(c.num_partitions, 1);
    assert_eq!(c.default_replication_factor, 1);
    assert!(c.auto_create_topics_enable && c.delete_topic_enable);
    assert_eq!(c.message_max_bytes, 1048588);
    assert_eq!(c.socket_request_max_bytes, 104857600);
    assert_eq!(c.queued_max_request_bytes, DEFAULT_QUEUED_MAX_REQUEST_BYTES);
    assert_eq!(c.max_connections as i64, DEFAULT_MAX_CONNECTIONS);
    assert_eq!(c.max_connections_per_ip, i32::MAX);
    assert_eq!(c.connections_max_idle_ms, 600000);
    assert_eq!(c.log_segment_bytes, 1073741824);
    assert_eq!(c.log_roll_ms, 168 * 3_600_000);
    assert_eq!(c.log_retention_ms, 168 * 3_600_000);
    assert_eq!(c.log_retention_bytes, -1);
    assert_eq!(c.log_retention_check_interval_ms, 300000);
    assert_eq!(c.log_cleanup_policy.to_value(), "delete");
    assert_eq!(c.compression_type, CompressionType::Producer);
    assert_eq!(c.log_flush_interval_messages, i64::MAX);
    assert_eq!(c.log_flush_interval_ms, i64::MAX);
    assert_eq!(c.log_index_interval_bytes, 4096);
    assert_eq!(c.offsets_topic_num_partitions, 50);
    assert_eq!(c.offsets_retention_minutes, 10080);
    assert_eq!(c.group_initial_rebalance_delay_ms, 3000);
    assert_eq!(c.log_message_timestamp_type, TimestampType::CreateTime);
    assert_eq!(c.min_insync_replicas, 1);
}

#[test]
fn precedence_default_file_env_override() {
    let key = "num.partitions";
    let c = load_from_str(None, &[], &[]).unwrap().config;
    assert_eq!(c.num_partitions, 1);
    let file = format!("{key}=2");
    let c = load_from_str(Some(&file), &[], &[]).unwrap().config;
    assert_eq!(c.num_partitions, 2);
    let e = env(&[("KAFKA_NUM_PARTITIONS", "3")]);
    let c = load_from_str(Some(&file), &e, &[]).unwrap().config;
    assert_eq!(c.num_partitions, 3);
    let e = env(&[("SLUICE_NUM_PARTITIONS", "4"), ("KAFKA_NUM_PARTITIONS", "3")]);
    let c = load_from_str(Some(&file), &e, &[]).unwrap().config;
    assert_eq!(c.num_partitions, 4, "SLUICE_ wins over KAFKA_ regardless of order");
    let c = load_from_str(Some(&file), &e, &ov(&["num.partitions=5", "num.partitions=6"]))
        .unwrap()
        .config;
    assert_eq!(c.num_partitions, 6, "override wins, later override wins");
    assert!(matches!(c.raw.values[key].origin, Origin::Override));
}

#[test]
fn env_mapping() {
    assert_eq!(
        env_var_to_key("KAFKA_LOG_RETENTION_HOURS"),
        Some(("KAFKA_", "log.retention.hours".into()))
    );
    assert_eq!(env_var_to_key("SLUICE_A___B__C_D"), Some(("SLUICE_", "a-b_c.d".into())));
    assert_eq!(env_var_to_key("PATH"), None);
    let e = env(&[
        ("KAFKA_HEAP_OPTS", "-Xmx1G"),
        ("SLUICE_NOT_A_KEY", "1"),
        ("SLUICE_LOG", "info"),
        ("KAFKA_LOG_RETENTION_HOURS", "1"),
    ]);
    let l = load_from_str(None, &e, &[]).unwrap();
    assert_eq!(l.config.log_retention_ms, 3_600_000);
    assert_eq!(l.warnings.len(), 1, "{:?}", l.warnings);
    assert_eq!(l.warnings[0].kind, WarningKind::UnknownEnvVar);
    assert_eq!(l.warnings[0].key, "SLUICE_NOT_A_KEY");
}

#[test]
fn bad_override() {
    let e = load_from_str(None, &[], &ov(&["nokey"])).unwrap_err();
    assert!(matches!(e, ConfigError::BadOverride { .. }));
    assert!(e.to_string().contains("nokey"));
}

#[test]
fn unknown_ignored_and_removed_keys_warn() {
    let l = load_from_str(
        Some("foo.bar=1\nnum.io.threads=8\nzookeeper.connect=x:2181\n"),
        &[],
        &[],
    )
    .unwrap();
    let kinds: Vec<_> = l.warnings.iter().map(|w| (w.key.as_str(), w.kind)).collect();
    assert!(kinds.contains(&("foo.bar", WarningKind::UnknownKey)));
    assert!(kinds.contains(&("num.io.threads", WarningKind::Ignored)));
    assert!(kinds.contains(&("zookeeper.connect", WarningKind::Deprecated)));
    let w = l.warnings.iter().find(|w| w.key == "foo.bar").unwrap();
    assert_eq!(w.origin, Origin::File { line: 1 });
    assert!(w.to_string().contains("line 1"));
    // Security keys are enforced, never ignored: a known one loads without a warning, an unknown
    // one stops start-up, and neither message shows a value.
    let secure = load_from_str(Some("ssl.keystore.password=secret"), &[], &[]).unwrap();
    assert!(secure.warnings.is_empty(), "{:?}", secure.warnings);
    let refused = load_from_str(
        Some("ssl.keystore.password=secret\nlistener.name.ssl.x=secret"),
        &[],
        &[],
    )
    .unwrap_err()
    .to_string();
    assert!(
        refused.contains("listener.name.ssl.x") && !refused.contains("secret"),
        "{refused}"
    );
    // A client's settings in the shared environment (KAFKA_SASL_USERNAME) are not the broker's.
    // Keys about inter-broker links are accepted (real files set them) but said to have no effect.
    let peer = load_from_str(Some("sasl.mechanism.inter.broker.protocol=PLAIN"), &[], &[]).unwrap();
    assert!(
        peer.warnings
            .iter()
            .any(|w| w.key == "sasl.mechanism.inter.broker.protocol" && w.kind == WarningKind::Ignored),
        "{:?}",
        peer.warnings
    );
    let env = [("KAFKA_SASL_USERNAME".to_string(), "app".to_string())];
    assert!(load_from_str(None, &env, &[]).is_ok());
}

#[test]
fn broker_id_alias() {
    let l = load_from_str(Some("broker.id=7"), &[], &[]).unwrap();
    assert_eq!(l.config.node_id, 7);
    assert!(l.warnings.iter().any(|w| w.key == "broker.id"));
    assert_eq!(
        load_from_str(Some("broker.id=7\nnode.id=7"), &[], &[])
            .unwrap()
            .config
            .node_id,
        7
    );
    assert_names(
        &err("broker.id=7\nnode.id=8"),
        "broker.id",
        "7",
        "must equal node.id (8)",
    );
}

#[test]
fn retention_precedence() {
    let r = |f: &str| load_from_str(Some(f), &[], &[]).unwrap().config.log_retention_ms;
    assert_eq!(r("log.retention.hours=2"), 7_200_000);
    assert_eq!(r("log.retention.hours=2\nlog.retention.minutes=3"), 180_000);
    assert_eq!(
        r("log.retention.hours=2\nlog.retention.minutes=3\nlog.retention.ms=5"),
        5
    );
    assert_eq!(r("log.retention.ms=-1\nlog.retention.hours=2"), -1);
    assert_eq!(r("log.retention.hours=-1"), -1);
    assert_names(&err("log.retention.ms=0"), "log.retention.ms", "0", "unlimited (-1)");
    // Kafka treats any negative retention as unlimited.
    assert_eq!(r("log.retention.ms=-2"), -1);
    assert_eq!(r("log.retention.minutes=-5"), -1);
    let c = load_from_str(Some("log.roll.hours=1\nlog.roll.ms=10"), &[], &[])
        .unwrap()
        .config;
    assert_eq!(c.log_roll_ms, 10);
    let c = load_from_str(Some("log.flush.scheduler.interval.ms=1000"), &[], &[])
        .unwrap()
        .config;
    assert_eq!(c.log_flush_interval_ms, 1000);
}

#[test]
fn invalid_values_name_key_value_and_allowed() {
    assert_names(&err("num.partitions=0"), "num.partitions", "'0'", "at least 1");
    assert_names(&err("num.partitions=abc"), "num.partitions", "abc", "integer");
    assert_names(
        &err("num.partitions=3000000000"),
        "num.partitions",
        "3000000000",
        "integer",
    );
    assert_names(
        &err("auto.create.topics.enable=yes"),
        "auto.create.topics.enable",
        "yes",
        "true or false",
    );
    assert_names(
        &err("compression.type=brotli"),
        "compression.type",
        "brotli",
        "uncompressed, zstd, lz4, snappy, gzip, producer",
    );
    assert_names(
        &err("log.message.timestamp.type=Now"),
        "log.message.timestamp.type",
        "Now",
        "CreateTime, LogAppendTime",
    );
    assert_names(
        &err("log.cleanup.policy=delete,shrink"),
        "log.cleanup.policy",
        "shrink",
        "delete, compact",
    );
    assert_names(
        &err("log.cleaner.min.cleanable.ratio=2"),
        "log.cleaner.min.cleanable.ratio",
        "2",
        "between 0 and 1",
    );
    assert_names(
        &err("process.roles=broker"),
        "process.roles",
        "broker",
        "broker,controller",
    );
    assert_names(
        &err("log.segment.bytes=10"),
        "log.segment.bytes",
        "10",
        "at least 1048576",
    );
    assert_names(
        &err("queued.max.request.bytes=-1"),
        "queued.max.request.bytes",
        "-1",
        "at least 1",
    );
    assert_names(
        &err("offsets.topic.replication.factor=40000"),
        "offsets.topic.replication.factor",
        "40000",
        "between 1 and 32767",
    );
    assert_names(
        &err("group.min.session.timeout.ms=10\ngroup.max.session.timeout.ms=5"),
        "group.max.session.timeout.ms",
        "5",
        "at least group.min.session.timeout.ms (10)",
    );
    assert_names(&err("log.dirs= , "), "log.dirs", "", "at least one directory");
    assert_names(
        &err("log.dirs=/a,/b,/a"),
        "log.dirs",
        "/a,/b,/a",
        "/a appears more than once",
    );
    assert_names(
        &err("log.cleaner.min.compaction.lag.ms=10\nlog.cleaner.max.compaction.lag.ms=5"),
        "log.cleaner.min.compaction.lag.ms",
        "10",
        "must not exceed",
    );
    // Whitespace around numbers is tolerated, as in Kafka.
    assert_eq!(
        load_from_str(Some("num.partitions= 3 "), &[], &[])
            .unwrap()
            .config
            .num_partitions,
        3
    );
    // Booleans are case-insensitive.
    assert!(
        !load_from_str(Some("delete.topic.enable=FALSE"), &[], &[])
            .unwrap()
            .config
            .delete_topic_enable
    );
}

#[test]
fn listeners_parse() {
    let f = "listeners=PLAINTEXT://:9092,ssl://[::1]:9093,CONTROLLER://localhost:0,INTERNAL://0.0.0.0:0\n\
             listener.security.protocol.map=PLAINTEXT:PLAINTEXT,SSL:SSL,CONTROLLER:PLAINTEXT,INTERNAL:SASL_SSL\n\
             controller.listener.names=CONTROLLER\n\
             sasl.enabled.mechanisms=PLAIN\n\
             advertised.listeners=PLAINTEXT://broker.example:19092,SSL://broker.example:19093";
    let c = load_from_str(Some(f), &[], &[]).unwrap().config;
    assert_eq!(c.listeners.len(), 4);
    assert_eq!(c.listeners[0].host, "");
    assert_eq!(c.listeners[1].name, "SSL");
    assert_eq!(c.listeners[1].host, "::1");
    assert_eq!(c.listeners[1].security_protocol, SecurityProtocol::Ssl);
    assert_eq!(c.listeners[2].port, 0);
    assert_eq!(c.listeners[3].security_protocol, SecurityProtocol::SaslSsl);
    let adv = c.advertised_listener("plaintext").unwrap();
    assert_eq!((adv.host.as_str(), adv.port), ("broker.example", 19092));
    assert!(c.advertised_listener("INTERNAL").is_none());
    assert_eq!(c.inter_broker_listener_name, "PLAINTEXT");
    assert_eq!(c.controller_listener_names, vec!["CONTROLLER".to_string()]);
    assert_eq!(c.listeners[1].to_string(), "SSL://[::1]:9093");
    assert_eq!(c.listeners[0].to_string(), "PLAINTEXT://:9092");

    // Without advertised.listeners, controller listeners are not advertised.
    let f = "listeners=PLAINTEXT://:9092,CONTROLLER://:9093\ncontroller.listener.names=CONTROLLER";
    let c = load_from_str(Some(f), &[], &[]).unwrap().config;
    assert_eq!(c.advertised_listeners.len(), 1);
    assert!(c.advertised_listener("CONTROLLER").is_none());
    // A controller-only listener set leaves nothing for clients.
    let f = "listeners=CONTROLLER://:9093\ncontroller.listener.names=CONTROLLER";
    assert!(load_from_str(Some(f), &[], &[]).is_err());
}

#[test]
fn listener_errors() {
    let cases = [
        ("listeners=PLAINTEXT:9092", "no '://'"),
        ("listeners=PLAINTEXT://host", "no port"),
        ("listeners=PLAINTEXT://host:99999", "between 0 and 65535"),
        ("listeners=PLAINTEXT://[::1:9092", "unclosed"),
        ("listeners=PLAINTEXT://h o:1", "invalid host"),
        ("listeners=FOO://:9092", "not in listener.security.protocol.map"),
        ("listeners=PLAINTEXT://:9092,PLAINTEXT://:9093", "more than once"),
        (
            "listeners=PLAINTEXT://:9092,SSL://:9092",
            "port 9092 is used by more than one",
        ),
        ("listeners=", "at least one listener"),
    ];
    for (f, why) in cases {
        let e = err(f);
        assert_names(&e, "listeners", "", why);
    }
    // Port 0 may repeat.
    assert!(load_from_str(Some("listeners=PLAINTEXT://:0,SSL://:0"), &[], &[]).is_ok());
    assert_names(
        &err("advertised.listeners=SSL://h:1"),
        "advertised.listeners",
        "SSL://h:1",
        "SSL is not in listeners",
    );
    assert_names(
        &err("advertised.listeners=PLAINTEXT://0.0.0.0:1"),
        "advertised.listeners",
        "0.0.0.0",
        "nonroutable",
    );
    assert_names(
        &err("listener.security.protocol.map=PLAINTEXT:TLS"),
        "listener.security.protocol.map",
        "PLAINTEXT:TLS",
        "PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL",
    );
    assert_names(
        &err("controller.listener.names=CONTROLLER"),
        "controller.listener.names",
        "CONTROLLER",
        "must also appear in listeners",
    );
    assert_names(
        &err("inter.broker.listener.name=SSL"),
        "inter.broker.listener.name",
        "SSL",
        "advertised.listeners",
    );
}

#[test]
fn file_reading_limits() {
    let dir = std::env::temp_dir().join(format!("sluice-config-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join("server.properties");
    std::fs::write(&p, "node.id=3\n").unwrap();
    assert_eq!(load(Some(&p), &[], &[]).unwrap().config.node_id, 3);
    std::fs::write(&p, vec![b'#'; MAX_FILE_BYTES + 1]).unwrap();
    assert!(matches!(load(Some(&p), &[], &[]), Err(ConfigError::TooLarge { .. })));
    let missing = dir.join("missing.properties");
    let e = load(Some(&missing), &[], &[]).unwrap_err();
    assert!(e.to_string().contains("missing.properties"), "{e}");
    std::fs::remove_dir_all(&dir).ok();
}

/// Every known key with hostile values: never a panic, and an error always names the key.
#[test]
fn hostile_values_for_every_key() {
    let keys: Vec<String> = describe_broker(&BrokerConfig::defaults().unwrap())
        .into_iter()
        .map(|e| e.name)
        .collect();
    assert!(keys.len() > 60);
    let values = [
        "",
        " ",
        "-1",
        "0",
        "-9223372036854775808",
        "99999999999999999999",
        "abc",
        "NaN",
        "inf",
        "1e400",
        "PLAINTEXT://[",
        "://:",
        ",,,",
        "\u{0}",
        "true",
        "broker,controller,broker",
    ];
    for k in &keys {
        for v in values {
            let o = vec![format!("{k}={v}")];
            if let Err(e) = load_from_str(None, &[], &o) {
                let s = e.to_string();
                assert!(e.key().is_some(), "{k}={v:?}: {s}");
                assert!(s.ends_with('.'), "{s}");
            }
        }
    }
    // NaN and infinities are not valid ratios.
    assert!(load_from_str(Some("log.cleaner.min.cleanable.ratio=NaN"), &[], &[]).is_err());
}

#[test]
fn fetch_max_bytes_and_producer_id_expiration_check_interval() {
    let c = load_from_str(None, &[], &[]).unwrap().config;
    assert_eq!(c.fetch_max_bytes, 55 * 1024 * 1024);
    assert_eq!(c.producer_id_expiration_check_interval_ms, 600_000);
    let c = load_from_str(Some("fetch.max.bytes=4096\n"), &[], &[]).unwrap().config;
    assert_eq!(c.fetch_max_bytes, 4096);
    // Kafka's lower bound for fetch.max.bytes is 1024.
    assert_names(&err("fetch.max.bytes=100\n"), "fetch.max.bytes", "100", "at least 1024");
}

#[test]
fn group_consumer_migration_policy_defaults_to_bidirectional_and_refuses_other_values() {
    let c = BrokerConfig::defaults().unwrap();
    assert_eq!(c.group_consumer_migration_policy, "bidirectional");
    let c = load_from_str(Some("group.consumer.migration.policy=disabled"), &[], &[])
        .unwrap()
        .config;
    assert_eq!(c.group_consumer_migration_policy, "disabled");
    // Kafka validates it with CaseInsensitiveValidString.
    let c = load_from_str(Some("group.consumer.migration.policy=UPGRADE"), &[], &[])
        .unwrap()
        .config;
    assert_eq!(c.group_consumer_migration_policy, "UPGRADE");
    assert_names(
        &err("group.consumer.migration.policy=sideways"),
        "group.consumer.migration.policy",
        "sideways",
        "disabled, upgrade, downgrade, bidirectional",
    );
}
