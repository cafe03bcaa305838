//! The SMTP server side: binds the listeners, accepts (access rules, session limits), runs one
//! thread per session, and stops cleanly. Accepted mail goes to the spool through `intake`.

pub mod intake;
pub mod listener;
pub mod registry;
pub mod session;
pub mod wire;

use crate::config::Config;
use crate::spool::Spool;
use crate::spool::envelope::Envelope;
use crossbeam_channel::Sender;
use registry::Registry;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

/// What every session shares.
pub struct Context {
    pub config: Arc<Config>,
    pub spool: Arc<Spool>,
    pub registry: Arc<Registry>,
    pub stopping: AtomicBool,
    /// Told about every committed message (the scheduler), if anyone listens.
    pub on_commit: Option<Sender<Envelope>>,
}

impl Context {
    pub fn committed(&self, env: Envelope) {
        if let Some(tx) = &self.on_commit {
            // The message is safe on disk; if nobody listens it is found at the next start.
            let _ = tx.send(env);
        }
    }
}

pub struct Server {
    ctx: Arc<Context>,
    bound: Vec<SocketAddr>,
    acceptors: Vec<JoinHandle<()>>,
}

#[derive(Debug)]
pub struct StartError {
    pub message: String,
}

impl Server {
    /// Binds every `[server] listen` address (warning for each that fails; an error when
    /// none could be bound) and starts accepting.
    pub fn start(
        config: Arc<Config>,
        spool: Arc<Spool>,
        on_commit: Option<Sender<Envelope>>,
    ) -> Result<Server, StartError> {
        let (listeners, failures) = listener::bind_all(&config.server.listen);
        for failure in &failures {
            log::warn!("{failure}");
        }
        if listeners.is_empty() {
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
            config,
            spool,
            registry,
            stopping: AtomicBool::new(false),
            on_commit,
        });
        let bound = listeners
            .iter()
            .filter_map(|l| l.local_addr().ok())
            .collect();
        let acceptors = listeners
            .into_iter()
            .map(|l| listener::spawn_acceptor(l, ctx.clone()))
            .collect();
        Ok(Server {
            ctx,
            bound,
            acceptors,
        })
    }

    pub fn bound(&self) -> &[SocketAddr] {
        &self.bound
    }

    /// Stops accepting, ends idle sessions at once, gives sessions in DATA up to `grace` to
    /// finish (their message is committed and answered), then ends the rest.
    pub fn stop(self, grace: Duration) {
        self.ctx.stopping.store(true, Ordering::SeqCst);
        for addr in &self.bound {
            listener::wake(*addr);
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
