//! A real DNS server for the tests: dnsmasq (Debian's), no upstream, answering only the
//! records given (`mx-host=`, `host-record=`, `txt-record=` lines) on port 53 of a loopback
//! address of the test's own (root is needed, as in CI). Dropped, it is stopped.

use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Dnsmasq {
    pub addr: SocketAddr,
    child: Child,
}

impl Dnsmasq {
    /// dnsmasq on `ip`:53 with these configuration lines, once it answers.
    pub fn start(dir: &Path, ip: &str, records: &[String]) -> Dnsmasq {
        let conf: PathBuf = dir.join(format!("dnsmasq-{ip}.conf"));
        let mut lines = vec![
            "no-resolv".to_string(),
            "no-hosts".into(),
            "no-poll".into(),
            "bind-interfaces".into(),
            format!("listen-address={ip}"),
            "port=53".into(),
            "cache-size=0".into(),
            "local-ttl=0".into(),
            "pid-file=".into(),
        ];
        lines.extend(records.iter().cloned());
        std::fs::write(&conf, lines.join("\n") + "\n").unwrap();
        let child = Command::new("dnsmasq")
            .arg("--keep-in-foreground")
            .arg(format!("--conf-file={}", conf.display()))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("dnsmasq (Debian package dnsmasq-base) is needed for this test");
        let addr: SocketAddr = format!("{ip}:53").parse().unwrap();
        let mut dns = Dnsmasq { addr, child };
        dns.wait_answering();
        dns
    }

    /// Polls with a root NS query until dnsmasq answers (it binds a moment after start).
    fn wait_answering(&mut self) {
        let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
        sock.set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        let query = [0x51, 0x6b, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 1];
        let start = Instant::now();
        while start.elapsed() < super::WAIT {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("dnsmasq on {} exited: {status}", self.addr);
            }
            let _ = sock.send_to(&query, self.addr);
            if sock.recv_from(&mut [0u8; 512]).is_ok() {
                return;
            }
        }
        panic!("dnsmasq does not answer on {}", self.addr);
    }
}

impl Drop for Dnsmasq {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
