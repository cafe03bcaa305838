//! The configuration in force, shared by every thread as one live handle: each thread takes
//! the current `Arc<Config>` at the start of a unit of work (a session, a job, a scheduler
//! pass, a page request) and keeps it to the end of that unit; `replace` swaps in a new one
//! at once for everything that starts afterwards.

use super::Config;
use std::sync::{Arc, RwLock};

#[derive(Clone)]
pub struct Live(Arc<RwLock<Arc<Config>>>);

impl Live {
    pub fn new(config: Config) -> Live {
        Live(Arc::new(RwLock::new(Arc::new(config))))
    }

    /// The configuration in force now.
    pub fn get(&self) -> Arc<Config> {
        // A panic while holding the lock cannot leave a half-written value: the lock only
        // ever guards a pointer swap.
        match self.0.read() {
            Ok(c) => c.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Puts `config` in force; returns the one it replaces.
    pub fn replace(&self, config: Config) -> Arc<Config> {
        let new = Arc::new(config);
        let mut slot = match self.0.write() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        std::mem::replace(&mut *slot, new)
    }
}

impl std::fmt::Debug for Live {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Live(..)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(hostname: &str) -> Config {
        let path = std::path::Path::new("/q/qksmtp.ini");
        let ini = format!("[server]\nhostname = {hostname}\n");
        super::super::load::parse(&ini, path, "host.test")
            .unwrap()
            .0
    }

    #[test]
    fn a_unit_of_work_keeps_its_config_and_the_next_one_gets_the_new_one() {
        let live = Live::new(config("first.qksmtp.test"));
        let first = live.get();
        let old = live.replace(config("changed.qksmtp.test"));
        assert!(Arc::ptr_eq(&old, &first));
        assert_eq!(first.server.hostname, "first.qksmtp.test");
        assert_eq!(live.get().server.hostname, "changed.qksmtp.test");
        let clone = live.clone();
        assert!(Arc::ptr_eq(&clone.get(), &live.get()));
    }
}
