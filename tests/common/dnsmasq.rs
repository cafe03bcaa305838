//! dnsmasq as the tests' DNS server (a real one nobody here wrote): authoritative for the
//! records given, nothing upstream, on a free loopback port; stopped when dropped.

use std::net::{SocketAddr, UdpSocket};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub struct Dnsmasq {
    pub addr: SocketAddr,
    child: Child,
}

/// One record, as dnsmasq's options write it.
pub enum Rr<'a> {
    /// `--txt-record`: the text (no commas: they separate strings) is split into strings of
    /// at most 255 bytes.
    Txt(&'a str, &'a str),
    /// `--mx-host=domain,host,preference`.
    Mx(&'a str, &'a str, u16),
    /// `--host-record=name,address`: A (or AAAA) and the matching PTR.
    Host(&'a str, &'a str),
    /// `--ptr-record=ADDRESS-as-arpa-name,name`, from the address.
    Ptr(&'a str, &'a str),
}

impl Rr<'_> {
    fn option(&self) -> String {
        match self {
            Rr::Txt(name, text) => {
                let chunks: Vec<String> = text
                    .as_bytes()
                    .chunks(255)
                    .map(|c| String::from_utf8_lossy(c).into_owned())
                    .collect();
                format!("--txt-record={name},{}", chunks.join(","))
            }
            Rr::Mx(domain, host, pref) => format!("--mx-host={domain},{host},{pref}"),
            Rr::Host(name, ip) => format!("--host-record={name},{ip}"),
            Rr::Ptr(ip, name) => {
                let ip: std::net::Ipv4Addr = ip.parse().expect("an IPv4 address");
                let o = ip.octets();
                format!(
                    "--ptr-record={}.{}.{}.{}.in-addr.arpa,{name}",
                    o[3], o[2], o[1], o[0]
                )
            }
        }
    }
}

impl Dnsmasq {
    /// Starts dnsmasq with these records; `None` when it is not installed (a failure under
    /// CI, where .ci/run installs dnsmasq-base).
    pub fn start(records: &[Rr]) -> Option<Dnsmasq> {
        let program = program()?;
        // The port is free for UDP when chosen, but dnsmasq also binds it for TCP, where
        // another test may hold it: then dnsmasq exits at once, and we try another port.
        for _ in 0..10 {
            let port = UdpSocket::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port();
            let mut dns = Dnsmasq {
                addr: SocketAddr::from(([127, 0, 0, 1], port)),
                child: command(program, port, records),
            };
            let up = super::wait_for(Duration::from_secs(20), || match dns.child.try_wait() {
                Ok(Some(status)) => Ok(Err(status)),
                _ if dns.answers() => Ok(Ok(())),
                _ => Err("dnsmasq not answering".to_string()),
            });
            match up {
                Ok(()) => return Some(dns),
                Err(status) => eprintln!("dnsmasq on port {port} ended ({status}); another port"),
            }
        }
        panic!("dnsmasq did not start on any of 10 ports");
    }

    /// Whether it answers a query (any answer).
    fn answers(&self) -> bool {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        socket
            .set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        // ID, flags (recursion desired), one question: TXT of "x.".
        let query = [
            0x12, 0x34, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1, b'x', 0, 0, 16, 0, 1,
        ];
        socket.send_to(&query, self.addr).is_ok() && socket.recv(&mut [0u8; 512]).is_ok()
    }
}

/// dnsmasq started on `port` with `records`.
fn command(program: &str, port: u16, records: &[Rr]) -> Child {
    let mut command = Command::new(program);
    command
        .args([
            "--keep-in-foreground",
            "--no-resolv",
            "--no-hosts",
            "--no-poll",
        ])
        .args([
            "--bind-interfaces",
            "--listen-address=127.0.0.1",
            "--pid-file=",
        ])
        .args(["--user=root", "--group=root", "--local-ttl=0"])
        // Names under .test and reverse names it has no record for do not exist
        // (NXDOMAIN), rather than being refused for want of an upstream server.
        .args([
            "--local=/test/",
            "--local=/in-addr.arpa/",
            "--local=/invalid/",
        ])
        .arg(format!("--port={port}"))
        .args(records.iter().map(Rr::option))
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    command
        .spawn()
        .unwrap_or_else(|e| panic!("{command:?}: {e}"))
}

/// The dnsmasq program, if installed.
fn program() -> Option<&'static str> {
    let found = ["/usr/sbin/dnsmasq", "/usr/bin/dnsmasq", "/sbin/dnsmasq"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists());
    if found.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must have dnsmasq (.ci/run installs dnsmasq-base)"
        );
        eprintln!("skipped: no dnsmasq (apt-get install dnsmasq-base)");
    }
    found
}

impl Drop for Dnsmasq {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
