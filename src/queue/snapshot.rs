//! What the status page, the JSON API, `/metrics` and `qksmtp queue` see of the running
//! queue: plain values copied out of the scheduler thread (`Event::Snapshot`).

use crate::outcome::GiveUp;
use crate::spool::envelope::RecipientState;
use crate::spool::id::MessageId;
use crate::time::Timestamp;

/// The whole picture at one instant.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub now: Timestamp,
    pub started: Timestamp,
    pub workers: usize,
    /// Delivery jobs (connections) in flight.
    pub in_flight: usize,
    pub counters: Counters,
    /// Attempt durations (seconds): counts per bucket of `BUCKETS`, then the sum.
    pub durations: Histogram,
    /// Recipients in the queue by state (all of them, not only the listed messages).
    pub totals: Totals,
    /// Messages in the queue, newest first (at most the limit asked for).
    pub messages: Vec<MessageView>,
    /// Messages that left the queue recently, newest first.
    pub finished: Vec<MessageView>,
    pub dests: Vec<DestView>,
    pub health: Health,
}

/// Whether the server can do its work, from what it saw (no probe of its own).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Health {
    /// When a recipient was last delivered.
    pub last_delivery: Option<Timestamp>,
    /// The last DNS lookup an attempt made.
    pub dns: Option<DnsSeen>,
    /// Whether the spool could be written, when the status page last checked (`None`: not
    /// checked); the error otherwise.
    pub spool: Option<Result<(), String>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsSeen {
    pub at: Timestamp,
    /// The DNS answered (an address, or that the name does not exist); false for a
    /// time-out, SERVFAIL or no resolver.
    pub answering: bool,
    /// The lookup and its answer: `MX a.test: mx.a.test`.
    pub detail: String,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    /// Messages accepted since start.
    pub received: u64,
    /// Recipient attempts that delivered / were deferred; recipients that failed for good.
    pub delivered: u64,
    pub deferred: u64,
    pub bounced: u64,
    /// Delivered recipient attempts by how the connection travelled, in `TlsKind::ALL` order.
    pub by_tls: [u64; 5],
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    pub messages: usize,
    pub queued: usize,
    pub sending: usize,
    pub deferred: usize,
    pub held: usize,
}

/// Bucket upper bounds of the attempt-duration histogram, in seconds.
pub const BUCKETS: [f64; 9] = [0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Histogram {
    /// Observations at or below each bound of `BUCKETS` (not cumulative).
    pub buckets: [u64; BUCKETS.len()],
    /// Observations above the last bound.
    pub over: u64,
    pub sum: f64,
    pub count: u64,
}

impl Histogram {
    pub fn observe(&mut self, secs: f64) {
        match BUCKETS.iter().position(|&b| secs <= b) {
            Some(i) => self.buckets[i] += 1,
            None => self.over += 1,
        }
        self.sum += secs;
        self.count += 1;
    }
}

/// One message and its recipients.
#[derive(Debug, Clone, PartialEq)]
pub struct MessageView {
    pub id: MessageId,
    pub arrival: Timestamp,
    pub sender: String,
    pub size: u64,
    /// The Subject header, when known.
    pub subject: Option<String>,
    pub held: bool,
    /// When it left the queue (finished messages only).
    pub finished: Option<Timestamp>,
    pub recipients: Vec<RecipientView>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RecipientView {
    pub address: String,
    pub state: Shown,
    /// When the next attempt is due (waiting recipients).
    pub next_try: Option<Timestamp>,
    /// The last result in one line.
    pub last_result: Option<String>,
    pub direct_tries: u32,
    pub relay_tries: u32,
    /// Why a failed recipient was given up.
    pub gave_up: Option<GiveUp>,
    /// Due, but its destination cannot take it now (queued messages only).
    pub waiting: Option<Waiting>,
    /// Final, but the sender's notice about it (a bounce or a receipt) could not be written
    /// yet (the spool is full?): the message stays queued until it is.
    pub notice_pending: bool,
}

/// A recipient's state as people see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shown {
    /// Waiting for its first attempt.
    Queued,
    /// An attempt is running.
    Sending,
    /// Tried, failed for now, waiting for the next attempt.
    Deferred,
    /// The message is held.
    Held,
    Delivered,
    Failed,
}

impl Shown {
    pub const ALL: [Shown; 6] = [
        Shown::Queued,
        Shown::Sending,
        Shown::Deferred,
        Shown::Held,
        Shown::Delivered,
        Shown::Failed,
    ];

    /// The state `name` names (`deferred`).
    pub fn from_name(name: &str) -> Option<Shown> {
        Shown::ALL.into_iter().find(|s| s.name() == name)
    }

    pub fn name(self) -> &'static str {
        match self {
            Shown::Queued => "queued",
            Shown::Sending => "sending",
            Shown::Deferred => "deferred",
            Shown::Held => "held",
            Shown::Delivered => "delivered",
            Shown::Failed => "failed",
        }
    }

    /// From the stored state, whether a job runs for it, and whether the message is held.
    pub fn of(state: RecipientState, busy: bool, held: bool, tries: u32) -> Shown {
        match state {
            RecipientState::Delivered => Shown::Delivered,
            RecipientState::Failed => Shown::Failed,
            RecipientState::Pending if busy => Shown::Sending,
            RecipientState::Pending if held => Shown::Held,
            RecipientState::Pending if tries > 0 => Shown::Deferred,
            RecipientState::Pending => Shown::Queued,
        }
    }
}

/// Why a due recipient is not being sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Waiting {
    /// Its destination pauses (after a run of `max_continuous`, or nobody answered there).
    Paused { dest: String, until: Timestamp },
    /// Its destination was paused from the status page.
    Held { dest: String },
    /// Every connection its destination may have is in use.
    Busy { dest: String, max_connections: u32 },
    /// Its destination throttles us (`throttle_on`): the next message goes at `next`.
    Throttled {
        dest: String,
        next: Timestamp,
        why: String,
    },
}

/// A destination that throttles us: since when, why (the reply), when its next message may
/// go, the pause between messages and the connections it may have now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThrottleView {
    pub since: Timestamp,
    pub why: String,
    pub next: Timestamp,
    pub delay: std::time::Duration,
    pub connections: u32,
}

/// Why the scheduler paused a destination for a while.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pause {
    /// A connection carried `max_continuous` messages in a row: `continuous_delay`.
    Run,
    /// Nobody answered there (DNS, connect, greeting): `retry_delay`.
    Down,
}

/// A destination's state as people see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DestState {
    /// Takes connections as its limits allow.
    Open,
    /// Paused from the status page until resumed.
    Held,
    /// Paused by the scheduler until then.
    Paused { until: Timestamp, why: Pause },
    /// The server slows us down (provider throttling): one connection, a message at a time
    /// (`DestView::throttled` says since when, why and the next message).
    Throttled,
}

impl DestState {
    pub fn name(self) -> &'static str {
        match self {
            DestState::Open => "open",
            DestState::Held => "paused",
            DestState::Paused { .. } => "paused",
            DestState::Throttled => "throttled",
        }
    }

    /// Why, in words (empty when open).
    pub fn why(self) -> &'static str {
        match self {
            DestState::Open => "",
            DestState::Held => "paused from the status page until resumed",
            DestState::Paused {
                why: Pause::Run, ..
            } => "resting after max_continuous messages on one connection",
            DestState::Paused {
                why: Pause::Down, ..
            } => "nobody answered there",
            DestState::Throttled => "the server asked us to slow down",
        }
    }
}

/// One destination (a recipient domain or a relay) the scheduler knows.
#[derive(Debug, Clone, PartialEq)]
pub struct DestView {
    /// `example.test` or `relay:NAME`.
    pub name: String,
    pub active: u32,
    pub max_connections: u32,
    /// Messages in the jobs in flight (the current run).
    pub in_run: usize,
    pub max_continuous: u32,
    /// Recipients ready and waiting for a free connection.
    pub ready: usize,
    pub paused_until: Option<Timestamp>,
    /// The server slows us down (`None`: it does not).
    pub throttled: Option<ThrottleView>,
    /// Why it is paused until then.
    pub paused_why: Option<Pause>,
    /// Paused from the status page until resumed.
    pub held: bool,
    /// The latest failed attempt's result there, and when.
    pub last_error: Option<(Timestamp, String)>,
    /// The earliest retry due for this destination.
    pub next_retry: Option<Timestamp>,
    /// The last hour, a minute each, oldest first: delivered, deferred, failed (empty when
    /// nothing happened there).
    pub chart: Vec<[u32; 3]>,
}

impl DestView {
    pub fn state(&self, now: Timestamp) -> DestState {
        match (self.held, self.paused_until.filter(|&t| t > now)) {
            (true, _) => DestState::Held,
            (false, Some(until)) => DestState::Paused {
                until,
                why: self.paused_why.unwrap_or(Pause::Run),
            },
            (false, None) if self.throttled.is_some() => DestState::Throttled,
            (false, None) => DestState::Open,
        }
    }
}

/// One message for its detail view.
#[derive(Debug, Clone, PartialEq)]
pub struct MessageDetail {
    pub view: MessageView,
    /// Headers and step record of a finished message (`None`: read them from the spool).
    pub headers: Option<String>,
    pub steps: Option<String>,
    /// Where a finished message's bytes are kept (`None`: queued, read from the spool).
    pub body: Option<crate::queue::journal::Kept>,
}
