//! DNSSEC-signed (and unsigned) zones for the tests: keys made by `ldns-keygen`, zones signed
//! by `ldns-signzone` (Debian's ldnsutils) and served by NSD, an authoritative server nobody
//! here wrote, on port 53 of a loopback address of the test's own (root, as in CI). The
//! signed zones' DNSKEY records are written to `anchor.keys` for `dnssec_trust_anchor`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Nsd {
    pub addr: SocketAddr,
    /// The trust anchor file (every signed zone's DNSKEY records, KSK and ZSK).
    pub anchor: PathBuf,
    child: Child,
}

/// One zone NSD serves: its records in zone-file syntax, relative to `origin`, without SOA
/// and NS (the helper adds them).
pub struct Zone {
    pub origin: String,
    pub records: Vec<String>,
    pub signing: Signing,
}

/// Whether and how a zone is signed.
pub enum Signing {
    Unsigned,
    Signed,
    /// Signed, then each `(from, to)` replaced in the signed zone file: records changed
    /// after signing, whose signatures no longer verify (bogus, for a validator).
    Tampered(Vec<(String, String)>),
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
        let zone = Zone {
            origin: origin.into(),
            records: records.to_vec(),
            signing: Signing::Signed,
        };
        Nsd::serve(dir, ip, &[zone])
    }

    /// Writes (and signs, as each says) every zone and serves them all on `ip`:53.
    pub fn serve(dir: &Path, ip: &str, zones: &[Zone]) -> Nsd {
        let d = dir.display();
        let mut conf = format!(
            "server:\n  ip-address: {ip}\n  port: 53\n  username: \"\"\n  chroot: \"\"\n  \
             zonesdir: \"{d}\"\n  pidfile: \"{d}/nsd.pid\"\n  database: \"\"\n  \
             zonelistfile: \"{d}/zone.list\"\n  xfrdfile: \"{d}/xfrd.state\"\n  \
             logfile: \"{d}/nsd.log\"\n  verbosity: 1\nremote-control:\n  control-enable: no\n"
        );
        let mut keys = String::new();
        for zone in zones {
            let (file, anchor) = write_zone(dir, ip, zone);
            keys.push_str(&anchor);
            conf.push_str(&format!(
                "zone:\n  name: {}\n  zonefile: \"{d}/{file}\"\n",
                zone.origin
            ));
        }
        let anchor = dir.join("anchor.keys");
        std::fs::write(&anchor, keys).unwrap();
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
        wait_answering(addr, &zones[0].origin, &mut nsd.child, "nsd");
        nsd
    }

    /// The `[delivery]` lines that make qksmtp ask this server and validate its zones.
    pub fn delivery_ini(&self) -> String {
        format!(
            "[delivery]\ndns_server = {}\ndnssec = yes\ndnssec_trust_anchor = {}\n",
            self.addr.ip(),
            self.anchor.display()
        )
    }
}

/// Writes `zone` into `dir` (signed as it says); returns the file NSD serves and the
/// zone's DNSKEY records for the anchor file (none when unsigned).
fn write_zone(dir: &Path, ip: &str, zone: &Zone) -> (String, String) {
    let origin = &zone.origin;
    let text = format!(
        "$ORIGIN {origin}.\n$TTL 300\n@ IN SOA ns.{origin}. admin.{origin}. 1 3600 600 86400 300\n\
         @ IN NS ns.{origin}.\nns IN A {ip}\n{}\n",
        zone.records.join("\n")
    );
    let file = format!("{origin}.zone");
    std::fs::write(dir.join(&file), text).unwrap();
    let edits = match &zone.signing {
        Signing::Unsigned => return (file, String::new()),
        Signing::Signed => &[][..],
        Signing::Tampered(edits) => &edits[..],
    };
    let ksk = run(dir, "ldns-keygen", &["-a", "ECDSAP256SHA256", "-k", origin]);
    let zsk = run(dir, "ldns-keygen", &["-a", "ECDSAP256SHA256", origin]);
    let signed = format!("{origin}.signed");
    run(dir, "ldns-signzone", &["-f", &signed, &file, &ksk, &zsk]);
    let mut text = std::fs::read_to_string(dir.join(&signed)).unwrap();
    for (from, to) in edits {
        assert!(text.contains(from), "{from:?} is not in {signed}:\n{text}");
        text = text.replace(from, to);
    }
    std::fs::write(dir.join(&signed), text).unwrap();
    // Both keys: hickory takes a zone's DNSKEY set as anchored only when every key in it
    // is an anchor (else it asks the parent zone for DS records, which has none here).
    let keys: String = [&ksk, &zsk]
        .iter()
        .map(|k| std::fs::read_to_string(dir.join(format!("{k}.key"))).unwrap())
        .flat_map(|text| {
            text.lines()
                .map(|l| l.split(';').next().unwrap().trim_end().to_string() + "\n")
                .collect::<Vec<_>>()
        })
        .collect();
    (signed, keys)
}

/// Polls `server` with an SOA query for `origin` until it answers; panics when `child`
/// (`what`) exits or `WAIT` passes.
pub fn wait_answering(server: SocketAddr, origin: &str, child: &mut Child, what: &str) {
    let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    // ID, flags (recursion desired: a resolver answers it too), one question.
    let mut query = vec![0x51, 0x6c, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0];
    for label in origin.split('.') {
        query.push(label.len() as u8);
        query.extend_from_slice(label.as_bytes());
    }
    query.extend_from_slice(&[0, 0, 6, 0, 1]);
    let start = Instant::now();
    while start.elapsed() < super::WAIT {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("{what} on {server} exited: {status}");
        }
        let _ = sock.send_to(&query, server);
        if sock.recv_from(&mut [0u8; 512]).is_ok() {
            return;
        }
    }
    panic!("{what} does not answer on {server}");
}

impl Drop for Nsd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
