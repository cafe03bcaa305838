//! Listening sockets: binding with an explanation when it fails, and the accept loop that
//! applies the access rules and session limits before a session thread starts.

use super::registry::{Limits, Refusal};
use super::{Context, session};
use crate::access;
use crate::smtp::reply::Reply;
use log::{info, warn};
use std::fmt;
use std::io::{self, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::{self, JoinHandle};
use std::time::Duration;

/// Stack of a session thread: sessions keep their buffers on the heap.
pub const SESSION_STACK: usize = 256 * 1024;

#[derive(Debug)]
pub struct BindFailure {
    pub addr: SocketAddr,
    pub error: io::Error,
}

impl fmt::Display for BindFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cannot listen on {}: {}", self.addr, self.error)?;
        match self.error.kind() {
            io::ErrorKind::PermissionDenied if self.addr.port() < 1024 => write!(
                f,
                " (ports below 1024 need privileges: use port 2525, or allow the program with \
                 `sudo setcap cap_net_bind_service=+ep path/to/qksmtp`)"
            ),
            io::ErrorKind::AddrInUse => write!(
                f,
                " (another program, perhaps another mail server, uses this port; stop it or choose another port in [server] listen)"
            ),
            io::ErrorKind::AddrNotAvailable => write!(
                f,
                " (this computer has no such address; check [server] listen)"
            ),
            _ => Ok(()),
        }
    }
}

/// Starts the accept thread of one listener; `implicit_tls` for `listen_tls` addresses. It
/// ends (closing the socket) when the server stops or `closed` is set, at its next wake-up.
pub fn spawn_acceptor(
    listener: TcpListener,
    ctx: Arc<Context>,
    implicit_tls: bool,
    closed: Arc<AtomicBool>,
) -> JoinHandle<()> {
    thread::Builder::new()
        .name("smtp-accept".into())
        .spawn(move || accept_loop(listener, ctx, implicit_tls, closed))
        .expect("cannot start the accept thread")
}

fn accept_loop(
    listener: TcpListener,
    ctx: Arc<Context>,
    implicit_tls: bool,
    closed: Arc<AtomicBool>,
) {
    loop {
        let accepted = listener.accept();
        if ctx.stopping.load(Ordering::SeqCst) || closed.load(Ordering::SeqCst) {
            return;
        }
        match accepted {
            Ok((stream, peer)) => admit(stream, peer, &ctx, implicit_tls),
            Err(e) => {
                // Out of file descriptors and the like: wait a little rather than spin.
                warn!("accept failed: {e}");
                thread::sleep(Duration::from_millis(100));
            }
        }
    }
}

/// Applies the access rules and limits, then starts the session thread. On an implicit-TLS
/// port a refusal is a plain close: the client expects a TLS handshake, not a reply.
fn admit(stream: TcpStream, peer: SocketAddr, ctx: &Arc<Context>, implicit_tls: bool) {
    let ip = peer.ip().to_canonical();
    let config = ctx.config.get();
    if !access::allowed(&config.access.rules, ip) {
        info!("{peer}: refused by the access rules");
        if implicit_tls {
            return;
        }
        return refuse(stream, &Reply::access_denied());
    }
    let handle = match stream.try_clone() {
        Ok(h) => h,
        Err(e) => return warn!("{peer}: {e}"),
    };
    let limits = Limits {
        total: config.server.max_sessions,
        per_ip: config.server.max_sessions_per_ip,
    };
    let seat = match ctx.registry.enter(ip, handle, limits) {
        Ok(seat) => seat,
        Err(refusal) => {
            let which = match refusal {
                Refusal::TooManySessions => "max_sessions",
                Refusal::TooManyFromIp => "max_sessions_per_ip",
            };
            info!("{peer}: refused, {which} reached");
            if implicit_tls {
                return;
            }
            return refuse(stream, &Reply::too_many_sessions());
        }
    };
    let shared = ctx.clone();
    let spawned = ctx.threads.run(Box::new(move || {
        session::run(stream, peer, shared, seat, implicit_tls)
    }));
    if let Err(e) = spawned {
        warn!("{peer}: cannot start a session thread: {e}");
    }
}

fn refuse(mut stream: TcpStream, reply: &Reply) {
    let _ = stream.set_write_timeout(Some(Duration::from_secs(2)));
    let _ = stream.write_all(&reply.to_wire());
}

/// Wakes an acceptor blocked in `accept` by connecting to its address.
pub fn wake(addr: SocketAddr) {
    let target = match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => {
            SocketAddr::new(Ipv4Addr::LOCALHOST.into(), addr.port())
        }
        IpAddr::V6(ip) if ip.is_unspecified() => {
            SocketAddr::new(Ipv6Addr::LOCALHOST.into(), addr.port())
        }
        _ => addr,
    };
    let _ = TcpStream::connect_timeout(&target, Duration::from_secs(1));
}
