//! The metadata store: commits survive restarts, torn tails are dropped, damage is reported,
//! and a batch that does not apply changes nothing.

use sluice_metadata::{ApplyError, ConfigResource, LogError, MetadataError, MetadataRecord, MetadataStore};
use sluice_protocol::Uuid;

fn topic(name: &str, id: u8, partitions: i32) -> Vec<MetadataRecord> {
    let topic_id = Uuid([id; 16]);
    let mut records = vec![MetadataRecord::Topic {
        name: name.into(),
        topic_id,
    }];
    for partition in 0..partitions {
        records.push(MetadataRecord::Partition {
            topic_id,
            partition,
            replicas: vec![1],
            isr: vec![1],
            leader: 1,
            leader_epoch: 0,
            partition_epoch: 0,
        });
    }
    records
}

#[test]
fn commits_survive_a_restart_and_replay_to_the_same_image() {
    let dir = tempfile::tempdir().unwrap();
    let image = {
        let mut store = MetadataStore::open(dir.path()).unwrap();
        store.commit(&topic("orders", 1, 3)).unwrap();
        store.commit(&topic("payments", 2, 1)).unwrap();
        store
            .commit(&[MetadataRecord::Config {
                resource: ConfigResource::Topic,
                name: "orders".into(),
                key: "retention.ms".into(),
                value: Some("60000".into()),
            }])
            .unwrap();
        store
            .commit(&[MetadataRecord::RemoveTopic {
                topic_id: Uuid([2; 16]),
            }])
            .unwrap();
        store.image().clone()
    };
    assert_eq!(image.offset, 7, "eight records: 0..=7");
    assert_eq!(image.topic("orders").unwrap().partitions.len(), 3);
    assert!(image.topic("payments").is_none());
    assert_eq!(image.topic_configs("orders").unwrap()["retention.ms"], "60000");
    let reopened = MetadataStore::open(dir.path()).unwrap();
    assert_eq!(reopened.image(), &image);
}

#[test]
fn a_batch_that_does_not_apply_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = MetadataStore::open(dir.path()).unwrap();
    store.commit(&topic("orders", 1, 1)).unwrap();
    let before = store.image().clone();
    // The second record clashes: the first must not be applied or written either.
    let mut clash = topic("fresh", 5, 1);
    clash.extend(topic("orders", 6, 1));
    assert!(matches!(
        store.commit(&clash),
        Err(MetadataError::Rejected(ApplyError::TopicExists(_)))
    ));
    assert_eq!(store.image(), &before);
    let gap = vec![MetadataRecord::Partition {
        topic_id: Uuid([1; 16]),
        partition: 5,
        replicas: vec![1],
        isr: vec![1],
        leader: 1,
        leader_epoch: 0,
        partition_epoch: 0,
    }];
    assert!(matches!(
        store.commit(&gap),
        Err(MetadataError::Rejected(ApplyError::PartitionGap { .. }))
    ));
    drop(store);
    assert_eq!(MetadataStore::open(dir.path()).unwrap().image(), &before);
}

#[test]
fn a_torn_tail_is_truncated_at_every_cut() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("metadata.log");
    let (committed, full_len) = {
        let mut store = MetadataStore::open(dir.path()).unwrap();
        store.commit(&topic("a", 1, 2)).unwrap();
        let committed = store.image().clone();
        let before_len = std::fs::metadata(&path).unwrap().len();
        store.commit(&topic("b", 2, 2)).unwrap();
        (committed, (before_len, std::fs::metadata(&path).unwrap().len()))
    };
    let original = std::fs::read(&path).unwrap();
    // Cut anywhere inside the first entry of the last batch: everything from that entry on is
    // dropped, the earlier batch stays. (Cuts between entries of one batch keep the whole
    // entries before the cut; a real crash tears only the final write.)
    let first_entry_len = {
        let len = u32::from_be_bytes(
            original[full_len.0 as usize..full_len.0 as usize + 4]
                .try_into()
                .unwrap(),
        );
        8 + len as u64
    };
    for cut in full_len.0..full_len.0 + first_entry_len {
        std::fs::write(&path, &original[..cut as usize]).unwrap();
        let store = MetadataStore::open(dir.path()).unwrap();
        assert_eq!(store.image(), &committed, "cut at {cut}");
        assert_eq!(
            std::fs::metadata(&path).unwrap().len(),
            full_len.0,
            "torn bytes removed at cut {cut}"
        );
    }
    // And the log takes new commits after recovery.
    let mut store = MetadataStore::open(dir.path()).unwrap();
    store.commit(&topic("c", 3, 1)).unwrap();
    assert!(MetadataStore::open(dir.path()).unwrap().image().topic("c").is_some());
}

#[test]
fn damage_in_the_middle_is_reported_not_truncated() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("metadata.log");
    {
        let mut store = MetadataStore::open(dir.path()).unwrap();
        store.commit(&topic("a", 1, 1)).unwrap();
        store.commit(&topic("b", 2, 1)).unwrap();
    }
    let mut raw = std::fs::read(&path).unwrap();
    raw[20] ^= 0xff; // inside the first entry's covered bytes
    std::fs::write(&path, &raw).unwrap();
    match MetadataStore::open(dir.path()) {
        Err(MetadataError::Log(LogError::Corrupt { position: 0, .. })) => {}
        Err(other) => panic!("wrong error: {other}"),
        Ok(_) => panic!("a damaged log opened"),
    }
    // Nothing was truncated.
    assert_eq!(std::fs::read(&path).unwrap(), raw);
}
