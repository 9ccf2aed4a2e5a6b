//! What the tests that run the real `sluice serve` share: waiting until it is ready.
// Each test binary compiles this module and uses only part of it.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, ChildStderr, Command};
use std::time::{Duration, Instant};

/// Reads the stderr of `child` (a `sluice serve` spawned with stderr piped) until it reports
/// "sluice is ready ... addr=<host:port>", for at most `timeout`. Returns the address and the
/// rest of stderr. If it does not get there, the child is killed and reaped and the test fails
/// with the last line it printed.
pub fn until_ready(child: &mut Child, timeout: Duration) -> (String, BufReader<ChildStderr>) {
    let mut stderr = BufReader::new(child.stderr.take().expect("stderr is piped"));
    let deadline = Instant::now() + timeout;
    let mut line = String::new();
    while Instant::now() < deadline {
        line.clear();
        if stderr.read_line(&mut line).unwrap_or(0) == 0 {
            break;
        }
        if let Some(addr) = line
            .contains("sluice is ready")
            .then(|| line.split("addr=").nth(1))
            .flatten()
        {
            return (addr.trim().to_owned(), stderr);
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("sluice did not report ready; last line: {line}");
}

/// Like [`until_ready`], then keeps draining stderr on a thread so the broker never blocks on a
/// full pipe (every refused frame, for one, logs a line).
pub fn ready_address(child: &mut Child, timeout: Duration) -> String {
    let (addr, stderr) = until_ready(child, timeout);
    std::thread::spawn(move || for _ in stderr.lines() {});
    addr
}

/// A `sluice serve` child, killed and reaped when dropped, so a failing assertion never leaves it
/// running.
pub struct KillOnDrop(pub Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl KillOnDrop {
    /// A field of /proc/<pid>/status in KiB (`VmRSS` now, `VmHWM` the peak so far).
    pub fn status_kib(&self, field: &str) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.0.id())).expect("broker is running");
        let line = status
            .lines()
            .find(|l| l.starts_with(field) && l[field.len()..].starts_with(':'))
            .unwrap_or_else(|| panic!("{field} in /proc status"));
        line[field.len() + 1..]
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse()
            .unwrap()
    }
}

pub fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl runs");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A CA, a server certificate for IP 127.0.0.1 only (so `localhost` does not match it), and a
/// client certificate with the v3 extensions rustls requires.
pub fn make_certs(dir: &Path) {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=test-ca",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
        ],
    );
    std::fs::write(dir.join("server.ext"), "subjectAltName=IP:127.0.0.1\n").unwrap();
    std::fs::write(
        dir.join("client.ext"),
        "basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth\n",
    )
    .unwrap();
    for (name, subject) in [("server", "/CN=broker"), ("client", "/CN=cli-user/OU=ops")] {
        openssl(
            dir,
            &[
                "req",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-subj",
                subject,
                "-keyout",
                &format!("{name}.key"),
                "-out",
                &format!("{name}.csr"),
            ],
        );
        openssl(
            dir,
            &[
                "x509",
                "-req",
                "-in",
                &format!("{name}.csr"),
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-days",
                "2",
                "-out",
                &format!("{name}.pem"),
                "-extfile",
                &format!("{name}.ext"),
            ],
        );
    }
    for name in ["server", "client"] {
        let bundle = std::fs::read_to_string(dir.join(format!("{name}.pem"))).unwrap()
            + &std::fs::read_to_string(dir.join(format!("{name}.key"))).unwrap();
        std::fs::write(dir.join(format!("{name}.bundle.pem")), bundle).unwrap();
    }
}
