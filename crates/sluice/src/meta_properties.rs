//! `meta.properties`: the identity of a data directory, as KRaft keeps it.
//!
//! Written once, on first start: the cluster id (a random UUID in Kafka's base64 form), the node
//! id and a directory id. On every later start the file is read back; a node id that differs from
//! the configuration stops start-up, because the data belongs to another node (Kafka does the
//! same).

use sluice_protocol::Uuid;
use std::fmt::Write as _;
use std::io::Read;
use std::path::{Path, PathBuf};

/// The file name inside each log directory.
pub const FILE_NAME: &str = "meta.properties";
/// The largest meta.properties read; the real one is a few hundred bytes.
const FILE_BYTES_MAX: u64 = 64 * 1024;

/// What a data directory says about itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetaProperties {
    /// The cluster this directory belongs to.
    pub cluster_id: String,
    /// The node that owns it.
    pub node_id: i32,
    /// This directory's own id (KIP-858).
    pub directory_id: String,
}

/// Why the directory's identity could not be established.
#[derive(Debug, thiserror::Error)]
pub enum MetaError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path}: {message}")]
    Invalid { path: PathBuf, message: String },
    #[error("{path} belongs to node {found}, but node.id is {configured}; point log.dirs at this node's own directory")]
    NodeIdMismatch { path: PathBuf, found: i32, configured: i32 },
}

/// 16 random bytes from the OS.
fn random_uuid() -> std::io::Result<Uuid> {
    let mut raw = [0u8; 16];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut raw)?;
    // Version 4, variant 1, as java.util.UUID.randomUUID makes them.
    raw[6] = (raw[6] & 0x0f) | 0x40;
    raw[8] = (raw[8] & 0x3f) | 0x80;
    Ok(Uuid(raw))
}

/// Reads `dir/meta.properties`, or creates it for `node_id` with a new cluster id.
pub fn load_or_create(dir: &Path, node_id: i32) -> Result<MetaProperties, MetaError> {
    let path = dir.join(FILE_NAME);
    let io = |source| MetaError::Io {
        path: path.clone(),
        source,
    };
    std::fs::create_dir_all(dir).map_err(|source| MetaError::Io {
        path: dir.to_owned(),
        source,
    })?;
    if path.exists() {
        let len = std::fs::metadata(&path).map_err(io)?.len();
        if len > FILE_BYTES_MAX {
            return Err(MetaError::Invalid {
                path,
                message: format!("{len} bytes is too large"),
            });
        }
        let text = std::fs::read_to_string(&path).map_err(io)?;
        let meta = parse(&text).map_err(|message| MetaError::Invalid {
            path: path.clone(),
            message,
        })?;
        if meta.node_id != node_id {
            return Err(MetaError::NodeIdMismatch {
                path,
                found: meta.node_id,
                configured: node_id,
            });
        }
        return Ok(meta);
    }
    let meta = MetaProperties {
        cluster_id: random_uuid().map_err(io)?.to_string(),
        node_id,
        directory_id: random_uuid().map_err(io)?.to_string(),
    };
    let mut text = String::from("#\n# Written by sluice on first start. Do not edit.\n");
    let _ = writeln!(
        text,
        "cluster.id={}\ndirectory.id={}\nnode.id={}\nversion=1",
        meta.cluster_id, meta.directory_id, node_id
    );
    // Write to a temporary file, fsync, rename, fsync the directory: the file is either absent or
    // whole after a crash.
    let tmp = dir.join(format!("{FILE_NAME}.tmp"));
    {
        use std::io::Write;
        let mut f = std::fs::File::create(&tmp).map_err(io)?;
        f.write_all(text.as_bytes()).map_err(io)?;
        f.sync_all().map_err(io)?;
    }
    std::fs::rename(&tmp, &path).map_err(io)?;
    std::fs::File::open(dir).and_then(|d| d.sync_all()).map_err(io)?;
    Ok(meta)
}

fn parse(text: &str) -> Result<MetaProperties, String> {
    let mut cluster_id = None;
    let mut node_id = None;
    let mut directory_id = None;
    for line in text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        let (key, value) = line
            .split_once('=')
            .ok_or_else(|| format!("line without '=': {line}"))?;
        match key.trim() {
            "cluster.id" => cluster_id = Some(value.trim().to_owned()),
            "node.id" => node_id = Some(value.trim().parse::<i32>().map_err(|e| format!("node.id: {e}"))?),
            "directory.id" => directory_id = Some(value.trim().to_owned()),
            "version" if value.trim() != "1" => return Err(format!("unsupported version {}", value.trim())),
            _ => {}
        }
    }
    Ok(MetaProperties {
        cluster_id: cluster_id.ok_or("no cluster.id")?,
        node_id: node_id.ok_or("no node.id")?,
        directory_id: directory_id.unwrap_or_default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn created_once_then_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let first = load_or_create(dir.path(), 3).unwrap();
        assert_eq!(first.cluster_id.len(), 22, "Kafka's base64 UUID form");
        assert_eq!(load_or_create(dir.path(), 3).unwrap(), first);
        assert!(matches!(
            load_or_create(dir.path(), 4),
            Err(MetaError::NodeIdMismatch {
                found: 3,
                configured: 4,
                ..
            })
        ));
        let other = tempfile::tempdir().unwrap();
        assert_ne!(load_or_create(other.path(), 3).unwrap().cluster_id, first.cluster_id);
    }

    #[test]
    fn a_damaged_file_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(FILE_NAME), "node.id=1\n").unwrap();
        assert!(matches!(load_or_create(dir.path(), 1), Err(MetaError::Invalid { .. })));
    }
}
