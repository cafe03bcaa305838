//! A validating resolver for the tests: Debian's `unbound` (nobody here wrote it) run from a
//! config file of the test's own, on port 53 of a loopback address (root, as in CI), with the
//! test zones' keys as its only trust anchors and every test zone a stub of the test's NSD.
//! Nothing is asked outside: the root zone is refused, queries go out from loopback only.

use super::nsd::wait_answering;
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};

pub struct Unbound {
    pub addr: SocketAddr,
    child: Child,
}

/// The unbound program, if installed; `None` (skip, saying so) only outside CI.
pub fn program() -> Option<&'static str> {
    let found = ["/usr/sbin/unbound", "/usr/bin/unbound"]
        .into_iter()
        .find(|p| Path::new(p).exists());
    if found.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must have unbound (.ci/run installs it)"
        );
        eprintln!("skipped: no unbound (apt-get install unbound)");
    }
    found
}

impl Unbound {
    /// Serves on `ip`:53, validating from `anchor` (DNSKEY records), asking `zones` (stub
    /// zones, under `.test`) of `authority`.
    pub fn start(
        dir: &Path,
        ip: &str,
        anchor: &Path,
        authority: SocketAddr,
        zones: &[&str],
    ) -> Unbound {
        let program = program().expect("unbound is installed");
        let d = dir.display();
        let mut conf = format!(
            "server:\n  interface: {ip}\n  port: 53\n  username: \"\"\n  chroot: \"\"\n  \
             directory: \"{d}\"\n  pidfile: \"{d}/unbound.pid\"\n  logfile: \"{d}/unbound.log\"\n  \
             use-syslog: no\n  verbosity: 1\n  val-log-level: 2\n  do-ip6: no\n  \
             access-control: 127.0.0.0/8 allow\n  do-not-query-localhost: no\n  \
             outgoing-interface: {ip}\n  trust-anchor-file: \"{}\"\n  \
             local-zone: \".\" refuse\n  local-zone: \"test.\" transparent\n  \
             qname-minimisation: no\nremote-control:\n  control-enable: no\n",
            anchor.display()
        );
        for zone in zones {
            conf.push_str(&format!(
                "stub-zone:\n  name: \"{zone}\"\n  stub-addr: {}@{}\n",
                authority.ip(),
                authority.port()
            ));
        }
        let file = dir.join("unbound.conf");
        std::fs::write(&file, conf).unwrap();
        let mut child = Command::new(program)
            .arg("-d")
            .arg("-c")
            .arg(&file)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("{program}: {e}"));
        let addr: SocketAddr = format!("{ip}:53").parse().unwrap();
        wait_answering(addr, zones[0], &mut child, "unbound");
        Unbound { addr, child }
    }
}

impl Drop for Unbound {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
