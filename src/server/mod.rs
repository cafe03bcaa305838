//! The SMTP server side: binds the listeners (plain and implicit TLS), accepts (access rules,
//! session limits), runs each session on its own thread (threads are reused), and stops cleanly. Accepted mail goes to the
//! spool through `intake`.

pub mod auth;
pub mod bounded;
pub mod connection;
pub mod deadline;
pub mod listener;
pub mod open_files;
pub mod registry;
pub mod session;
pub mod threads;
pub mod tls;
pub mod wire;

use crate::config::Live;
use crate::identity::Acceptor;
use crate::intake::Intake;
use registry::Registry;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
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
    /// Built once from `tls_cert` + `tls_key`; `None` without a certificate (no STARTTLS).
    pub tls: Option<Acceptor>,
    /// The threads sessions run on (kept for reuse).
    pub threads: threads::SessionThreads,
}

pub struct Server {
    ctx: Arc<Context>,
    bound: Vec<Bound>,
    acceptors: Vec<JoinHandle<()>>,
}

/// A listening address and what it speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bound {
    pub addr: SocketAddr,
    /// True on `listen_tls` addresses: TLS from the first byte.
    pub implicit_tls: bool,
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
        let tls =
            match (&config.server.tls_cert, &config.server.tls_key) {
                (Some(cert), Some(key)) => Some(crate::identity::acceptor(cert, key).map_err(
                    |e| StartError {
                        message: format!("tls_cert/tls_key: {e}"),
                    },
                )?),
                _ => None,
            };
        let (plain, mut failures) = listener::bind_all(&config.server.listen);
        let (implicit, tls_failures) = match tls {
            Some(_) => listener::bind_all(&config.server.listen_tls),
            None => (Vec::new(), Vec::new()),
        };
        failures.extend(tls_failures);
        for failure in &failures {
            log::warn!("{failure}");
        }
        if plain.is_empty() && implicit.is_empty() {
            let causes: Vec<String> = failures.iter().map(|f| f.to_string()).collect();
            return Err(StartError {
                message: format!(
                    "no listen address could be bound:\n  {}",
                    causes.join("\n  ")
                ),
            });
        }
        let registry = Registry::new(
            config.server.max_sessions,
            config.server.max_sessions_per_ip,
        );
        let ctx = Arc::new(Context {
            config: live,
            intake,
            registry,
            stopping: AtomicBool::new(false),
            tls,
            threads: threads::SessionThreads::new("smtp-session", listener::SESSION_STACK),
        });
        let listeners = plain
            .into_iter()
            .map(|l| (l, false))
            .chain(implicit.into_iter().map(|l| (l, true)));
        let mut bound = Vec::new();
        let mut acceptors = Vec::new();
        for (l, implicit_tls) in listeners {
            if let Ok(addr) = l.local_addr() {
                bound.push(Bound { addr, implicit_tls });
            }
            acceptors.push(listener::spawn_acceptor(l, ctx.clone(), implicit_tls));
        }
        Ok(Server {
            ctx,
            bound,
            acceptors,
        })
    }

    pub fn bound(&self) -> &[Bound] {
        &self.bound
    }

    /// Stops accepting, ends idle sessions at once, gives sessions in DATA up to `grace` to
    /// finish (their message is committed and answered), then ends the rest.
    pub fn stop(self, grace: Duration) {
        self.ctx.stopping.store(true, Ordering::SeqCst);
        for b in &self.bound {
            listener::wake(b.addr);
        }
        for a in self.acceptors {
            let _ = a.join();
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
