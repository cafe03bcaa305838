//! Open SMTP connections kept between jobs: after a job, a worker parks its connection here
//! (per destination, for a couple of seconds) so the next job to the same destination skips
//! connect, greeting, EHLO and STARTTLS. A connection carries at most `max_continuous`
//! messages in a row; the worker counts them in `Open::sent`. A connection serves only jobs
//! under the settings it was opened with: after a reload that changed them (a domain's `mx`,
//! a relay's host), the next job opens a new one.

use crate::client::Client;
use crate::config::Config;
use crate::queue::policy::Dest;
use crate::transcript::Record;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long a parked connection may wait for its next job.
pub const IDLE_LIMIT: Duration = Duration::from_secs(2);

/// A connection with what the worker needs to go on using it.
pub struct Open {
    pub client: Client,
    /// `mx1.example.test [192.0.2.1]:25`
    pub route: String,
    /// The steps that opened it (DNS, connect, greeting, EHLO, STARTTLS, AUTH).
    pub record: Record,
    /// Messages sent over it so far.
    pub sent: u32,
    /// Parked since (set by `park`).
    since: Instant,
    /// The settings it was opened under.
    under: Arc<Config>,
}

impl Open {
    pub fn new(client: Client, route: String, record: Record, under: Arc<Config>) -> Open {
        Open {
            client,
            route,
            record,
            sent: 0,
            since: Instant::now(),
            under,
        }
    }

    /// Opened under `config` (the same settings, or equal ones after a reload that changed
    /// nothing).
    fn serves(&self, config: &Arc<Config>) -> bool {
        Arc::ptr_eq(&self.under, config) || *self.under == **config
    }
}

#[derive(Default)]
pub struct Connections {
    parked: Mutex<HashMap<Dest, Vec<Open>>>,
}

impl Connections {
    /// A parked connection to `dest` that is still fresh and was opened under `config`, if
    /// any (stale ones and those opened under other settings are closed).
    pub fn take(&self, dest: &Dest, config: &Arc<Config>) -> Option<Open> {
        let (fresh, stale) = {
            let mut parked = self.parked.lock().unwrap_or_else(|p| p.into_inner());
            let list = parked.get_mut(dest)?;
            let mut fresh = None;
            let mut stale = Vec::new();
            while let Some(open) = list.pop() {
                if open.since.elapsed() < IDLE_LIMIT
                    && open.client.is_usable()
                    && open.serves(config)
                {
                    fresh = Some(open);
                    break;
                }
                stale.push(open);
            }
            if list.is_empty() {
                parked.remove(dest);
            }
            (fresh, stale)
        };
        close_all(stale);
        fresh
    }

    pub fn park(&self, dest: Dest, mut open: Open) {
        open.since = Instant::now();
        let mut parked = self.parked.lock().unwrap_or_else(|p| p.into_inner());
        parked.entry(dest).or_default().push(open);
    }

    /// Closes connections parked for longer than `IDLE_LIMIT` (all of them with `all`).
    pub fn sweep(&self, all: bool) {
        let stale: Vec<Open> = {
            let mut parked = self.parked.lock().unwrap_or_else(|p| p.into_inner());
            let mut stale = Vec::new();
            for list in parked.values_mut() {
                let (old, keep): (Vec<Open>, Vec<Open>) = list
                    .drain(..)
                    .partition(|o| all || o.since.elapsed() >= IDLE_LIMIT);
                *list = keep;
                stale.extend(old);
            }
            parked.retain(|_, list| !list.is_empty());
            stale
        };
        close_all(stale);
    }
}

/// Says QUIT on each (outside the lock: it waits for the server).
fn close_all(list: Vec<Open>) {
    for open in list {
        let mut quit = Record::new();
        open.client.quit(&mut quit);
    }
}
