use sluice_config::*;

fn broker(file: &str) -> BrokerConfig {
    load_from_str(Some(file), &[], &[]).unwrap().config
}

fn o(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

fn entry<'a>(es: &'a [ConfigEntry], name: &str) -> &'a ConfigEntry {
    es.iter().find(|e| e.name == name).unwrap()
}

fn syn(e: &ConfigEntry) -> Vec<(String, Option<String>, ConfigSource)> {
    e.synonyms
        .iter()
        .map(|s| (s.name.clone(), s.value.clone(), s.source))
        .collect()
}

#[test]
fn defaults_from_broker() {
    let t = TopicConfig::from_broker(&BrokerConfig::defaults().unwrap());
    assert_eq!(t.retention_ms, 604_800_000);
    assert_eq!(t.retention_bytes, -1);
    assert_eq!(t.segment_bytes, 1_073_741_824);
    assert_eq!(t.segment_ms, 604_800_000);
    assert_eq!(t.max_message_bytes, 1_048_588);
    assert_eq!(t.delete_retention_ms, 86_400_000);
    assert_eq!(t.min_cleanable_dirty_ratio, 0.5);
    assert_eq!(t.segment_index_bytes, 10_485_760);
    assert_eq!(t.index_interval_bytes, 4096);
    assert_eq!(t.file_delete_delay_ms, 60_000);
    assert_eq!(t.flush_messages, i64::MAX);
    assert_eq!(t.flush_ms, i64::MAX);
    assert_eq!(t.message_timestamp_before_max_ms, i64::MAX);
    assert_eq!(t.message_timestamp_after_max_ms, 3_600_000);
    assert_eq!(t.compression_type, CompressionType::Producer);
    assert_eq!(t.cleanup_policy.to_value(), "delete");
    assert_eq!(t.compression_gzip_level, -1);
    assert_eq!(t.compression_lz4_level, 9);
    assert_eq!(t.compression_zstd_level, 3);
    assert_eq!(t.max_compaction_lag_ms, i64::MAX);
    assert_eq!(t.min_compaction_lag_ms, 0);
    assert_eq!(t.segment_jitter_ms, 0);
    assert!(!t.preallocate && !t.unclean_leader_election_enable);
}

#[test]
fn resolve_applies_overrides() {
    let b = broker("log.retention.hours=1");
    let t = TopicConfig::resolve(
        &b,
        &o(&[("retention.ms", "1000"), ("cleanup.policy", "compact, delete")]),
    )
    .unwrap();
    assert_eq!(t.retention_ms, 1000);
    assert!(t.cleanup_policy.compact && t.cleanup_policy.delete);
    let t = TopicConfig::resolve(&b, &o(&[])).unwrap();
    assert_eq!(t.retention_ms, 3_600_000);
}

#[test]
fn override_validation() {
    assert!(validate_topic_overrides(o(&[("retention.ms", "-1"), ("compression.type", "zstd")])).is_ok());
    let cases = [
        ("retention.ms", "-2", "at least -1"),
        ("segment.bytes", "10", "at least 1048576"),
        ("compression.gzip.level", "0", "-1 or an integer between 1 and 9"),
        ("compression.zstd.level", "23", "between -131072 and 22"),
        ("preallocate", "maybe", "true or false"),
        (
            "compression.type",
            "brotli",
            "uncompressed, zstd, lz4, snappy, gzip, producer",
        ),
        ("cleanup.policy", "", "delete, compact"),
        ("message.timestamp.type", "createtime", "CreateTime, LogAppendTime"),
        ("min.cleanable.dirty.ratio", "1.5", "between 0 and 1"),
        ("min.insync.replicas", "0", "at least 1"),
        ("max.message.bytes", "x", "integer"),
    ];
    for (k, v, allowed) in cases {
        let e = validate_topic_overrides(o(&[(k, v)])).unwrap_err();
        assert_eq!(e.key(), Some(k));
        let s = e.to_string();
        assert!(
            s.contains(&format!("'{k}'")) && s.contains(&format!("'{v}'")) && s.contains(allowed),
            "{s}"
        );
    }
    let e = validate_topic_overrides(o(&[("retention.hours", "1")])).unwrap_err();
    assert!(matches!(e, ConfigError::UnknownTopicConfig { .. }));
    assert!(e.to_string().contains("retention.hours") && e.to_string().contains("retention.ms"));
    assert!(TopicConfig::resolve(&BrokerConfig::defaults().unwrap(), &o(&[("segment.ms", "0")])).is_err());
    let e = TopicConfig::resolve(
        &BrokerConfig::defaults().unwrap(),
        &o(&[("min.compaction.lag.ms", "10"), ("max.compaction.lag.ms", "5")]),
    )
    .unwrap_err();
    assert!(
        e.to_string().contains("'min.compaction.lag.ms'") && e.to_string().contains("(5)"),
        "{e}"
    );
}

#[test]
fn describe_topic_sources_and_synonyms() {
    // Nothing set anywhere: DEFAULT_CONFIG, synonym is the defaulted hours key.
    let b = BrokerConfig::defaults().unwrap();
    let es = describe_topic(&b, &o(&[])).unwrap();
    assert_eq!(es.len(), topic_config_names().len());
    let r = entry(&es, "retention.ms");
    assert_eq!(r.value.as_deref(), Some("604800000"));
    assert_eq!(r.source, ConfigSource::DefaultConfig);
    assert_eq!(r.config_type, ConfigType::Long);
    assert!(!r.read_only && !r.is_sensitive && !r.documentation.is_empty());
    assert_eq!(
        syn(r),
        vec![(
            "log.retention.hours".into(),
            Some("168".into()),
            ConfigSource::DefaultConfig
        )]
    );

    // Broker file sets minutes: STATIC_BROKER_CONFIG.
    let b = broker("log.retention.minutes=30");
    let es = describe_topic(&b, &o(&[])).unwrap();
    let r = entry(&es, "retention.ms");
    assert_eq!(r.value.as_deref(), Some("1800000"));
    assert_eq!(r.source, ConfigSource::StaticBrokerConfig);
    assert_eq!(
        syn(r),
        vec![
            (
                "log.retention.minutes".into(),
                Some("30".into()),
                ConfigSource::StaticBrokerConfig
            ),
            (
                "log.retention.hours".into(),
                Some("168".into()),
                ConfigSource::DefaultConfig
            ),
        ]
    );

    // Topic override: DYNAMIC_TOPIC_CONFIG first.
    let es = describe_topic(&b, &o(&[("retention.ms", "5000")])).unwrap();
    let r = entry(&es, "retention.ms");
    assert_eq!(r.value.as_deref(), Some("5000"));
    assert_eq!(r.source, ConfigSource::DynamicTopicConfig);
    assert_eq!(
        syn(r)[0],
        (
            "retention.ms".into(),
            Some("5000".into()),
            ConfigSource::DynamicTopicConfig
        )
    );
    assert_eq!(syn(r).len(), 3);

    let c = entry(&es, "cleanup.policy");
    assert_eq!(c.config_type, ConfigType::List);
    assert_eq!(
        syn(c),
        vec![(
            "log.cleanup.policy".into(),
            Some("delete".into()),
            ConfigSource::DefaultConfig
        )]
    );
    let s = entry(&es, "segment.ms");
    assert_eq!(
        syn(s),
        vec![("log.roll.hours".into(), Some("168".into()), ConfigSource::DefaultConfig)]
    );
    assert_eq!(entry(&es, "min.cleanable.dirty.ratio").value.as_deref(), Some("0.5"));
    assert_eq!(entry(&es, "min.cleanable.dirty.ratio").config_type, ConfigType::Double);
}

#[test]
fn describe_broker_sources_and_synonyms() {
    let b = broker("num.partitions=3\nlog.retention.minutes=30");
    let es = describe_broker(&b);
    let n = entry(&es, "num.partitions");
    assert_eq!(
        (n.value.as_deref(), n.source),
        (Some("3"), ConfigSource::StaticBrokerConfig)
    );
    assert!(n.read_only);
    assert_eq!(n.config_type, ConfigType::Int);
    let d = entry(&es, "default.replication.factor");
    assert_eq!((d.value.as_deref(), d.source), (Some("1"), ConfigSource::DefaultConfig));
    let r = entry(&es, "log.retention.ms");
    assert_eq!((r.value.as_deref(), r.source), (None, ConfigSource::DefaultConfig));
    assert_eq!(
        syn(r),
        vec![
            (
                "log.retention.minutes".into(),
                Some("30".into()),
                ConfigSource::StaticBrokerConfig
            ),
            (
                "log.retention.hours".into(),
                Some("168".into()),
                ConfigSource::DefaultConfig
            ),
        ]
    );
    assert_eq!(entry(&es, "listeners").config_type, ConfigType::List);
    assert_eq!(entry(&es, "auto.create.topics.enable").config_type, ConfigType::Boolean);
    assert_eq!(ConfigSource::StaticBrokerConfig.code(), 4);
    assert_eq!(ConfigSource::DefaultConfig.name(), "DEFAULT_CONFIG");
    assert_eq!(ConfigType::Password.code(), 9);
}

#[test]
fn topic_names_sorted_and_all_resolvable() {
    let names = topic_config_names();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted);
    let t = TopicConfig::from_broker(&BrokerConfig::defaults().unwrap());
    for n in names {
        assert!(t.value_text(n).is_some(), "{n}");
    }
}

#[test]
fn describe_topic_is_sorted_and_complete() {
    let es = describe_topic(&BrokerConfig::defaults().unwrap(), &o(&[])).unwrap();
    let names: Vec<&str> = es.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(names, topic_config_names());
    assert!(es.iter().all(|e| e.value.is_some()));
    // Every key has a defaulted broker synonym except flush.ms, whose broker
    // synonym log.flush.interval.ms defaults to null.
    for e in &es {
        assert_eq!(e.synonyms.is_empty(), e.name == "flush.ms", "{}", e.name);
    }
}
