//! Loopback addresses of a test's own for servers that must listen on a fixed port (25 for an
//! MX found through DNS, 443 for HTTPS, 53 for DNS): picked at random in 127.100.0.0 to
//! 127.199.255.255 (one address bound on the spot, or a /24 for a test that needs several),
//! so that two tests, in one run or in two checkouts' runs at the same time, never share one
//! (a fixed `127.0.0.63:25` once collided).

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::io::ErrorKind;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener};
use std::sync::atomic::{AtomicU64, Ordering};

/// How many random addresses are tried before giving up (each one is taken only if its port
/// is in use: about never).
const TRIES: usize = 64;

/// A random address in 127.100.0.0 - 127.199.255.255 (never 127.0.0.x, where the tests bind
/// port 0, nor a network or broadcast-looking .0/.255).
fn random_loopback() -> Ipv4Addr {
    let r = random();
    let byte = |shift: u32, span: u64, from: u64| (from + (r >> shift) % span) as u8;
    Ipv4Addr::new(127, byte(0, 100, 100), byte(8, 256, 0), byte(16, 254, 1))
}

/// 64 random bits, different in every call and every process.
fn random() -> u64 {
    static N: AtomicU64 = AtomicU64::new(0);
    let mut h = RandomState::new().build_hasher();
    h.write_u32(std::process::id());
    h.write_u64(N.fetch_add(1, Ordering::Relaxed));
    h.finish()
}

/// A random 127.X.Y.0/24 of a test's own (X in 100..=199), for a test whose DNS data names
/// several addresses (MX hosts on port 25, its name server on port 53, an HTTPS server on
/// 443): `net.ip(1)` is 127.X.Y.1. Its servers bind them as they start.
#[derive(Clone, Copy, Debug)]
pub struct Net(u8, u8);

impl Net {
    pub fn new() -> Net {
        let r = random();
        Net(100 + (r % 100) as u8, (r >> 8) as u8)
    }

    /// The address `host` (1 to 254) of the net, e.g. "127.142.7.1".
    pub fn ip(&self, host: u8) -> String {
        format!("127.{}.{}.{host}", self.0, self.1)
    }
}

/// A listener on `port` of a loopback address nobody else uses; `None` when binding that port
/// needs a privilege this process lacks (not root): the caller then skips its test, which
/// under CI (run as root) is a failure instead.
pub fn listener(port: u16) -> Option<TcpListener> {
    for _ in 0..TRIES {
        let at = SocketAddr::new(IpAddr::V4(random_loopback()), port);
        match TcpListener::bind(at) {
            Ok(l) => return Some(l),
            Err(e) if e.kind() == ErrorKind::AddrInUse => continue,
            Err(e) if e.kind() == ErrorKind::PermissionDenied => {
                assert!(
                    std::env::var_os("CI").is_none(),
                    "CI runs as root: port {port} of {at}: {e}"
                );
                eprintln!("skipped: binding port {port} needs root");
                return None;
            }
            Err(e) => panic!("bind {at}: {e}"),
        }
    }
    panic!("no free loopback address for port {port} in {TRIES} tries");
}

/// A loopback address whose `port` was free a moment ago and that no other test picks: for a
/// server that binds it itself (a `FakeMx` with `bind`), or for "nothing listens here".
pub fn free(port: u16) -> Option<IpAddr> {
    listener(port).map(|l| l.local_addr().unwrap().ip())
}
