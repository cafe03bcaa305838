//! The SMTP server side: binds the listeners (plain and implicit TLS) and the local socket for
//! users of this computer (`local`), accepts (access rules, session limits), runs each session
//! on its own thread (threads are reused), and stops cleanly. A reload changes the listeners and the certificate in two steps: `prepare` (can
//! fail, changes nothing) then `commit`. Accepted mail goes to the spool through `intake`.

pub mod auth;
pub mod bounded;
pub mod connection;
pub mod deadline;
pub mod listener;
#[cfg(unix)]
pub mod local;
pub mod open_files;
pub mod registry;
pub mod session;
pub mod threads;
pub mod tls;
pub mod wire;

use crate::config::{Config, Live};
use crate::identity::Acceptor;
use crate::intake::Intake;
use registry::Registry;
use std::net::{SocketAddr, TcpListener};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::thread::JoinHandle;
use std::time::Duration;

/// What every session shares.
pub struct Context {
    /// Each session takes the settings in force when it starts.
    pub config: Live,
    /// Where finished transactions go (nothing under `server/` writes the spool).
    pub intake: Intake,
    pub registry: Arc<Registry>,
    pub stopping: AtomicBool,
    /// Built from `tls_cert` + `tls_key` (at start and by each reload); `None` without a
    /// certificate (no STARTTLS). A session takes the one in force when it starts.
    tls: RwLock<Option<Arc<Acceptor>>>,
    /// The threads sessions run on (kept for reuse).
    pub threads: threads::SessionThreads,
}

impl Context {
    /// The TLS acceptor in force now.
    pub fn tls(&self) -> Option<Arc<Acceptor>> {
        match self.tls.read() {
            Ok(t) => t.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    fn set_tls(&self, tls: Option<Arc<Acceptor>>) {
        match self.tls.write() {
            Ok(mut t) => *t = tls,
            Err(poisoned) => *poisoned.into_inner() = tls,
        }
    }
}

pub struct Server {
    ctx: Arc<Context>,
    listeners: Vec<Listening>,
    /// The addresses that could not be bound at start (while others could).
    unbound: Vec<String>,
    /// `submit.sock` in the spool folder, for local users (when it could be made).
    #[cfg(unix)]
    local: Option<local::LocalSocket>,
}

/// A listening address and what it speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bound {
    pub addr: SocketAddr,
    /// True on `listen_tls` addresses: TLS from the first byte.
    pub implicit_tls: bool,
}

impl std::fmt::Display for Bound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = if self.implicit_tls { "smtps" } else { "smtp" };
        write!(f, "{} ({kind})", self.addr)
    }
}

/// One accept thread and the address it was configured with (`127.0.0.1:0` stays the same
/// listener across reloads, whatever port it got).
struct Listening {
    configured: SocketAddr,
    bound: Bound,
    /// The listening socket (the acceptor has its own handle): an address that moves between
    /// `listen` and `listen_tls` keeps it, so that it is never unbound in between.
    socket: TcpListener,
    closed: Arc<AtomicBool>,
    acceptor: JoinHandle<()>,
}

/// New settings for the server with everything that can fail done (the certificate loaded,
/// the new addresses bound): `commit` puts them in force.
pub struct Prepared {
    tls: Option<Arc<Acceptor>>,
    added: Vec<(SocketAddr, TcpListener, bool)>,
    /// (configured address, implicit TLS) of the listeners to close.
    removed: Vec<(SocketAddr, bool)>,
    /// Addresses that could not be bound (as at start: a warning each).
    pub warnings: Vec<String>,
}

#[derive(Debug)]
pub struct StartError {
    pub message: String,
}

impl Server {
    /// Loads the certificate (when set), binds every `[server] listen` and `listen_tls`
    /// address (warning for each that fails; an error when none could be bound) and starts
    /// accepting.
    pub fn start(live: Live, intake: Intake) -> Result<Server, StartError> {
        let config = live.get();
        let ctx = Arc::new(Context {
            config: live,
            intake,
            registry: Registry::new(),
            stopping: AtomicBool::new(false),
            tls: RwLock::new(None),
            threads: threads::SessionThreads::new("smtp-session", listener::SESSION_STACK),
        });
        #[cfg(unix)]
        let local = match local::LocalSocket::start(ctx.clone(), &config.server.spool_dir) {
            Ok(socket) => Some(socket),
            Err(e) => {
                log::warn!(
                    "{}: {e}; only users who can write the spool can use `qksmtp send`",
                    local::socket_path(&config.server.spool_dir).display()
                );
                None
            }
        };
        let mut server = Server {
            ctx,
            listeners: Vec::new(),
            unbound: Vec::new(),
            #[cfg(unix)]
            local,
        };
        let prepared = server
            .prepare(&config)
            .map_err(|message| StartError { message })?;
        server.unbound = prepared.warnings.clone();
        server.commit(prepared);
        Ok(server)
    }

    /// The addresses that could not be bound at start (while others could), each with its
    /// cause and fix: for the start-up lines.
    pub fn unbound(&self) -> &[String] {
        &self.unbound
    }

    /// Gets `config`'s certificate and listeners ready without changing anything: an
    /// unusable certificate, or no address left to listen on, is an error.
    pub fn prepare(&self, config: &Config) -> Result<Prepared, String> {
        let tls = match (&config.server.tls_cert, &config.server.tls_key) {
            (Some(cert), Some(key)) => Some(Arc::new(
                crate::identity::acceptor(cert, key)
                    .map_err(|e| format!("tls_cert/tls_key: {e}"))?,
            )),
            _ => None,
        };
        let plain = config.server.listen.iter().map(|&a| (a, false));
        let implicit = config.server.listen_tls.iter().map(|&a| (a, true));
        let mut wanted: Vec<(SocketAddr, bool)> = Vec::new();
        for w in plain.chain(implicit.filter(|_| tls.is_some())) {
            if !wanted.contains(&w) {
                wanted.push(w);
            }
        }
        let current: Vec<(SocketAddr, bool)> = self
            .listeners
            .iter()
            .map(|l| (l.configured, l.bound.implicit_tls))
            .collect();
        let removed: Vec<(SocketAddr, bool)> = current
            .iter()
            .filter(|c| !wanted.contains(c))
            .copied()
            .collect();
        let mut added = Vec::new();
        let mut warnings = Vec::new();
        for &(addr, implicit_tls) in wanted.iter().filter(|w| !current.contains(w)) {
            // Moved between listen and listen_tls: the same socket, now speaking the other.
            let moved = self
                .listeners
                .iter()
                .find(|l| l.configured == addr && removed.contains(&(addr, !implicit_tls)));
            let socket = match moved {
                Some(l) => l.socket.try_clone(),
                None => TcpListener::bind(addr),
            };
            match socket {
                Ok(l) => added.push((addr, l, implicit_tls)),
                Err(error) => warnings.push(listener::BindFailure { addr, error }.to_string()),
            }
        }
        if current.len() - removed.len() + added.len() == 0 {
            return Err(format!(
                "no listen address could be bound:\n  {}",
                warnings.join("\n  ")
            ));
        }
        Ok(Prepared {
            tls,
            added,
            removed,
            warnings,
        })
    }

    /// Puts prepared settings in force: the certificate for sessions that start from now on,
    /// new listeners accepting, removed ones closed (their open sessions go on to their end).
    /// Returns what changed, one line each.
    pub fn commit(&mut self, prepared: Prepared) -> Vec<String> {
        self.ctx.set_tls(prepared.tls);
        let mut changes = Vec::new();
        let (closing, kept): (Vec<Listening>, Vec<Listening>) = std::mem::take(&mut self.listeners)
            .into_iter()
            .partition(|l| {
                prepared
                    .removed
                    .contains(&(l.configured, l.bound.implicit_tls))
            });
        self.listeners = kept;
        for l in closing {
            changes.push(format!("no longer listening on {}", l.bound));
            l.closed.store(true, Ordering::SeqCst);
            listener::wake(l.bound.addr);
            let _ = l.acceptor.join();
        }
        for (configured, l, implicit_tls) in prepared.added {
            let Ok(addr) = l.local_addr() else { continue };
            let bound = Bound { addr, implicit_tls };
            changes.push(format!("listening on {bound}"));
            let Ok(socket) = l.try_clone() else { continue };
            let closed = Arc::new(AtomicBool::new(false));
            let acceptor =
                listener::spawn_acceptor(l, self.ctx.clone(), implicit_tls, closed.clone());
            self.listeners.push(Listening {
                configured,
                bound,
                socket,
                closed,
                acceptor,
            });
        }
        changes
    }

    pub fn bound(&self) -> Vec<Bound> {
        self.listeners.iter().map(|l| l.bound).collect()
    }

    /// Sessions open now.
    pub fn sessions(&self) -> usize {
        self.ctx.registry.count()
    }

    /// Stops accepting, ends idle sessions at once, gives sessions in DATA up to `grace` to
    /// finish (their message is committed and answered), then ends the rest.
    pub fn stop(self, grace: Duration) {
        self.ctx.stopping.store(true, Ordering::SeqCst);
        for l in &self.listeners {
            listener::wake(l.bound.addr);
        }
        for l in self.listeners {
            let _ = l.acceptor.join();
        }
        #[cfg(unix)]
        if let Some(local) = self.local {
            local.stop();
        }
        self.ctx.registry.end_sessions(false);
        if !self.ctx.registry.wait_empty(grace) {
            log::warn!(
                "{} session(s) still in DATA after {grace:?}; abandoning them",
                self.ctx.registry.count()
            );
            self.ctx.registry.end_sessions(true);
            self.ctx.registry.wait_empty(Duration::from_secs(5));
        }
    }
}
