//! The `sluice serve` binary: starts with defaults plus overrides, keeps its identity in
//! meta.properties, answers real protocol, stops cleanly on SIGTERM, and refuses bad config.

mod common;

use std::io::{BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn sluice() -> Command {
    Command::new(env!("CARGO_BIN_EXE_sluice"))
}

/// Starts `sluice serve` on an ephemeral port and returns it with the address it bound.
fn start(data: &std::path::Path) -> (Child, String, BufReader<std::process::ChildStderr>) {
    let mut child = sluice()
        .args(["serve", "-o", "listeners=PLAINTEXT://127.0.0.1:0", "-o"])
        .arg(format!("log.dirs={}", data.display()))
        .env("SLUICE_LOG", "info")
        .stderr(Stdio::piped())
        .spawn()
        .expect("sluice starts");
    let (addr, stderr) = common::until_ready(&mut child, Duration::from_secs(20));
    (child, addr, stderr)
}

/// Sends ApiVersions v0 and returns the error code of the answer.
fn api_versions_error(addr: &str) -> i16 {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    // size, api key 18, version 0, correlation id 1, client id "t"
    s.write_all(&[0, 0, 0, 11, 0, 18, 0, 0, 0, 0, 0, 1, 0, 1, b't'])
        .unwrap();
    let mut size = [0u8; 4];
    s.read_exact(&mut size).unwrap();
    let mut body = vec![0u8; u32::from_be_bytes(size) as usize];
    s.read_exact(&mut body).unwrap();
    assert_eq!(&body[..4], &[0, 0, 0, 1], "correlation id");
    i16::from_be_bytes([body[4], body[5]])
}

fn terminate(child: &mut Child) -> std::process::ExitStatus {
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(Instant::now() < deadline, "sluice did not stop on SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn serves_keeps_its_identity_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, addr, _stderr) = start(dir.path());
    assert_eq!(api_versions_error(&addr), 0);
    let meta = std::fs::read_to_string(dir.path().join("meta.properties")).unwrap();
    assert!(meta.contains("node.id=1") && meta.contains("cluster.id="));
    assert!(terminate(&mut child).success(), "clean exit on SIGTERM");

    // A restart keeps the cluster id.
    let (mut child, addr, _stderr) = start(dir.path());
    assert_eq!(api_versions_error(&addr), 0);
    assert_eq!(
        std::fs::read_to_string(dir.path().join("meta.properties")).unwrap(),
        meta
    );
    assert!(terminate(&mut child).success());
}

#[test]
fn an_invalid_value_stops_start_up_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let out = sluice()
        .args(["serve", "-o", "num.partitions=abc", "-o"])
        .arg(format!("log.dirs={}", dir.path().display()))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("num.partitions") && stderr.contains("abc"), "{stderr}");
}

#[test]
fn environment_variables_configure_the_broker() {
    let dir = tempfile::tempdir().unwrap();
    let out = sluice()
        .args(["serve"])
        .env("KAFKA_NUM_PARTITIONS", "zero")
        .env("KAFKA_LOG_DIRS", dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("num.partitions"));
}
