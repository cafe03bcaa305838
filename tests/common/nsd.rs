//! A DNSSEC-signed zone for the tests: keys made by `ldns-keygen`, the zone signed by
//! `ldns-signzone` (Debian's ldnsutils) and served by NSD, an authoritative server nobody
//! here wrote, on port 53 of a loopback address of the test's own (root, as in CI). The
//! zone's DNSKEY records are written to `anchor.keys` for `dnssec_trust_anchor`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Nsd {
    pub addr: SocketAddr,
    /// The trust anchor file (the zone's DNSKEY records).
    pub anchor: PathBuf,
    child: Child,
}

fn run(dir: &Path, program: &str, args: &[&str]) -> String {
    let out = Command::new(program)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("{program} (Debian packages nsd, ldnsutils) is needed: {e}"));
    assert!(
        out.status.success(),
        "{program} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

impl Nsd {
    /// Signs zone `origin` (its records in zone-file syntax, without SOA and NS) and serves
    /// it on `ip`:53.
    pub fn start(dir: &Path, ip: &str, origin: &str, records: &[String]) -> Nsd {
        let zone = format!(
            "$ORIGIN {origin}.\n$TTL 300\n@ IN SOA ns.{origin}. admin.{origin}. 1 3600 600 86400 300\n\
             @ IN NS ns.{origin}.\nns IN A {ip}\n{}\n",
            records.join("\n")
        );
        std::fs::write(dir.join("zone"), zone).unwrap();
        let ksk = run(dir, "ldns-keygen", &["-a", "ECDSAP256SHA256", "-k", origin]);
        let zsk = run(dir, "ldns-keygen", &["-a", "ECDSAP256SHA256", origin]);
        run(
            dir,
            "ldns-signzone",
            &["-f", "zone.signed", "zone", &ksk, &zsk],
        );
        // Both keys: hickory takes a zone's DNSKEY set as anchored only when every key in it
        // is an anchor (else it asks the parent zone for DS records, which has none here).
        let anchor = dir.join("anchor.keys");
        let keys: String = [&ksk, &zsk]
            .iter()
            .map(|k| std::fs::read_to_string(dir.join(format!("{k}.key"))).unwrap())
            .flat_map(|text| {
                text.lines()
                    .map(|l| l.split(';').next().unwrap().trim_end().to_string() + "\n")
                    .collect::<Vec<_>>()
            })
            .collect();
        std::fs::write(&anchor, keys).unwrap();
        let d = dir.display();
        let conf = format!(
            "server:\n  ip-address: {ip}\n  port: 53\n  username: \"\"\n  chroot: \"\"\n  \
             zonesdir: \"{d}\"\n  pidfile: \"{d}/nsd.pid\"\n  database: \"\"\n  \
             zonelistfile: \"{d}/zone.list\"\n  xfrdfile: \"{d}/xfrd.state\"\n  \
             logfile: \"{d}/nsd.log\"\n  verbosity: 1\nremote-control:\n  control-enable: no\n\
             zone:\n  name: {origin}\n  zonefile: \"{d}/zone.signed\"\n"
        );
        std::fs::write(dir.join("nsd.conf"), conf).unwrap();
        let child = Command::new("nsd")
            .args(["-d", "-c"])
            .arg(dir.join("nsd.conf"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nsd (Debian package nsd) is needed for this test");
        let addr: SocketAddr = format!("{ip}:53").parse().unwrap();
        let mut nsd = Nsd {
            addr,
            anchor,
            child,
        };
        nsd.wait_answering(origin);
        nsd
    }

    /// Polls with an SOA query for the zone until NSD answers.
    fn wait_answering(&mut self, origin: &str) {
        let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        sock.set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        let mut query = vec![0x51, 0x6c, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0];
        for label in origin.split('.') {
            query.push(label.len() as u8);
            query.extend_from_slice(label.as_bytes());
        }
        query.extend_from_slice(&[0, 0, 6, 0, 1]);
        let start = Instant::now();
        while start.elapsed() < super::WAIT {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("nsd on {} exited: {status}", self.addr);
            }
            let _ = sock.send_to(&query, self.addr);
            if sock.recv_from(&mut [0u8; 512]).is_ok() {
                return;
            }
        }
        panic!("nsd does not answer on {}", self.addr);
    }
}

impl Drop for Nsd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
