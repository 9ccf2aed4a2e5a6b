//! What the tests that run the real `sluice serve` share: waiting until it is ready.
// Each test binary compiles this module and uses only part of it.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::process::{Child, ChildStderr};
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
