//! What the scheduler keeps of each queued message: a compact record of what scheduling needs
//! (interned recipient domains, packed recipient states), with the whole envelope held only
//! while the message is hot and read back from the spool when a cold one is needed again.

use crate::bounce;
use crate::outcome::{Action, GiveUp, Outcome};
use crate::smtp::{Notify, ReversePath};
use crate::spool::Spool;
use crate::spool::envelope::{Envelope, Recipient, RecipientState};
use crate::spool::id::MessageId;
use crate::time::Timestamp;
use std::collections::HashMap;
use std::num::NonZeroU64;
use std::sync::Arc;

/// Where the scheduler reads back the envelope of a message that went cold.
pub trait Envelopes: Send {
    fn load(&self, id: &MessageId) -> Result<Envelope, String>;
}

impl Envelopes for Arc<Spool> {
    fn load(&self, id: &MessageId) -> Result<Envelope, String> {
        match self.read_envelope(id) {
            Ok(Ok(env)) => Ok(env),
            Ok(Err(e)) => Err(e.to_string()),
            Err(e) => Err(e.to_string()),
        }
    }
}

/// No spool to read from: the scheduler then keeps every envelope hot.
pub struct NoSpool;

impl Envelopes for NoSpool {
    fn load(&self, id: &MessageId) -> Result<Envelope, String> {
        Err(format!("{id}: no spool to read the envelope from"))
    }
}

/// An interned recipient domain (as written in the address).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DomainId(u32);

/// Recipient domains, each held once however many recipients share it; a name is dropped
/// when the last recipient with it leaves the queue.
#[derive(Default)]
pub struct Domains {
    /// Name and number of queued recipients with it (0: a free slot).
    names: Vec<(Box<str>, u32)>,
    index: HashMap<Box<str>, DomainId>,
    free: Vec<DomainId>,
}

impl Domains {
    pub fn intern(&mut self, name: &str) -> DomainId {
        if let Some(&id) = self.index.get(name) {
            self.names[id.0 as usize].1 += 1;
            return id;
        }
        let entry = (Box::from(name), 1);
        let id = match self.free.pop() {
            Some(id) => {
                self.names[id.0 as usize] = entry;
                id
            }
            None => {
                self.names.push(entry);
                DomainId((self.names.len() - 1) as u32)
            }
        };
        self.index.insert(Box::from(name), id);
        id
    }

    pub fn release(&mut self, id: DomainId) {
        let slot = &mut self.names[id.0 as usize];
        slot.1 = slot.1.saturating_sub(1);
        if slot.1 == 0 {
            self.index.remove(&slot.0);
            slot.0 = Box::from("");
            self.free.push(id);
        }
    }

    pub fn name(&self, id: DomainId) -> &str {
        &self.names[id.0 as usize].0
    }

    /// How many different domains queued recipients have.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.index.len()
    }
}

const BUSY: u8 = 1;
const WARNED: u8 = 2;
const HAS_NEXT: u8 = 4;
const DELIVERED: u8 = 8;
const FAILED: u8 = 16;

/// One recipient as the scheduler needs it: 24 bytes.
#[derive(Debug, Clone, Copy)]
pub struct Rcpt {
    next_try: Timestamp,
    pub domain: DomainId,
    direct_tries: u16,
    relay_tries: u16,
    /// `BUSY`, `WARNED`, `HAS_NEXT` and the state (`DELIVERED`, `FAILED`, neither: pending).
    flags: u8,
    pub owed: Option<Action>,
    pub gave_up: Option<GiveUp>,
    pub notify: Option<Notify>,
}

impl Rcpt {
    fn of(r: &Recipient, domain: DomainId) -> Rcpt {
        let mut c = Rcpt {
            next_try: Timestamp(0),
            domain,
            direct_tries: 0,
            relay_tries: 0,
            flags: 0,
            owed: None,
            gave_up: None,
            notify: r.notify,
        };
        c.refresh(r);
        c
    }

    /// Takes every field but the domain and `busy` from the envelope's recipient.
    fn refresh(&mut self, r: &Recipient) {
        self.direct_tries = u16::try_from(r.direct_tries).unwrap_or(u16::MAX);
        self.relay_tries = u16::try_from(r.relay_tries).unwrap_or(u16::MAX);
        self.set_next_try(r.next_try);
        self.set_state(r.state);
        self.set_flag(WARNED, r.warned);
        self.owed = r.owed;
        self.gave_up = r.gave_up;
        self.notify = r.notify;
    }

    /// Gives the envelope's recipient what the scheduler knows (it is the truth).
    fn overlay(&self, r: &mut Recipient) {
        r.direct_tries = self.direct_tries();
        r.relay_tries = self.relay_tries();
        r.next_try = self.next_try();
        r.state = self.state();
        r.warned = self.warned();
        r.owed = self.owed;
        r.gave_up = self.gave_up;
    }

    fn set_flag(&mut self, flag: u8, on: bool) {
        if on {
            self.flags |= flag;
        } else {
            self.flags &= !flag;
        }
    }

    pub fn state(&self) -> RecipientState {
        if self.flags & DELIVERED != 0 {
            RecipientState::Delivered
        } else if self.flags & FAILED != 0 {
            RecipientState::Failed
        } else {
            RecipientState::Pending
        }
    }

    fn set_state(&mut self, state: RecipientState) {
        self.flags &= !(DELIVERED | FAILED);
        match state {
            RecipientState::Pending => {}
            RecipientState::Delivered => self.flags |= DELIVERED,
            RecipientState::Failed => self.flags |= FAILED,
        }
    }

    pub fn pending(&self) -> bool {
        self.state() == RecipientState::Pending
    }

    pub fn busy(&self) -> bool {
        self.flags & BUSY != 0
    }

    pub fn set_busy(&mut self, busy: bool) {
        self.set_flag(BUSY, busy);
    }

    pub fn warned(&self) -> bool {
        self.flags & WARNED != 0
    }

    pub fn next_try(&self) -> Option<Timestamp> {
        (self.flags & HAS_NEXT != 0).then_some(self.next_try)
    }

    pub fn set_next_try(&mut self, at: Option<Timestamp>) {
        self.next_try = at.unwrap_or_default();
        self.set_flag(HAS_NEXT, at.is_some());
    }

    pub fn direct_tries(&self) -> u32 {
        u32::from(self.direct_tries)
    }

    pub fn relay_tries(&self) -> u32 {
        u32::from(self.relay_tries)
    }
}

/// An optional time in 8 bytes (an `Option<Timestamp>` takes 16): µs since 1970, never 0.
#[derive(Debug, Clone, Copy, Default)]
pub struct Timer(Option<NonZeroU64>);

impl Timer {
    pub fn get(self) -> Option<Timestamp> {
        self.0.map(|t| Timestamp(t.get()))
    }

    /// Sets the time (or none) and gives the one before.
    pub fn replace(&mut self, at: Option<Timestamp>) -> Option<Timestamp> {
        let old = self.get();
        self.0 = at.and_then(|t| NonZeroU64::new(t.0.max(1)));
        old
    }

    pub fn take(&mut self) -> Option<Timestamp> {
        self.replace(None)
    }
}

/// The whole envelope of a hot message, and each recipient's outcome this run (quoted by
/// notices; a cold message's notices quote the result saved in its envelope instead).
pub struct Hot {
    pub env: Envelope,
    pub last: Vec<Option<Outcome>>,
}

/// A queued message.
pub struct Msg {
    pub hot: Option<Box<Hot>>,
    pub rcpts: Box<[Rcpt]>,
    pub arrival: Timestamp,
    /// When its owed notice is tried again (an entry of `Scheduler::owed`).
    pub owed_at: Timer,
    /// When its next delay notice falls due (an entry of `Scheduler::warnings`).
    pub warn_at: Timer,
    /// Failed writes of its owed notice in a row (the backoff).
    pub owed_failures: u32,
    pub held: bool,
    pub null_sender: bool,
}

impl Msg {
    /// A message arriving hot, its recipients' domains interned.
    pub fn new(env: Envelope, domains: &mut Domains) -> Msg {
        let rcpts = env
            .recipients
            .iter()
            .map(|r| Rcpt::of(r, domains.intern(&r.address.domain)))
            .collect();
        let last = vec![None; env.recipients.len()];
        Msg {
            rcpts,
            arrival: env.arrival,
            owed_at: Timer::default(),
            warn_at: Timer::default(),
            owed_failures: 0,
            held: env.held,
            null_sender: env.sender == ReversePath::Null,
            hot: Some(Box::new(Hot { env, last })),
        }
    }

    /// After the hot envelope changed: the compact record follows it.
    pub fn sync(&mut self) {
        let Some(hot) = &self.hot else { return };
        for (c, r) in self.rcpts.iter_mut().zip(&hot.env.recipients) {
            c.refresh(r);
        }
        self.held = hot.env.held;
    }

    /// A cold message's envelope read back; the record's fields override the file's. False
    /// (and still cold) when the file is not this message's.
    pub fn warm(&mut self, mut env: Envelope) -> bool {
        if env.recipients.len() != self.rcpts.len() {
            return false;
        }
        for (c, r) in self.rcpts.iter().zip(&mut env.recipients) {
            c.overlay(r);
        }
        env.held = self.held;
        let last = vec![None; env.recipients.len()];
        self.hot = Some(Box::new(Hot { env, last }));
        true
    }

    /// Whether an attempt for one of its recipients is running.
    pub fn busy(&self) -> bool {
        self.rcpts.iter().any(Rcpt::busy)
    }

    /// Whether the sender gets a notice with this action for recipient `i`.
    pub fn wants(&self, i: usize, action: Action) -> bool {
        !self.null_sender && bounce::asked(self.rcpts[i].notify, action)
    }

    /// The message leaves the queue: its domains are released.
    pub fn forget(&self, domains: &mut Domains) {
        for r in self.rcpts.iter() {
            domains.release(r.domain);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The record is what the memory of a large queue is made of (issue 20: at most 300
    /// bytes per queued recipient, the maps and timers included).
    #[test]
    fn the_records_stay_small() {
        assert!(std::mem::size_of::<Rcpt>() <= 24);
        assert!(std::mem::size_of::<Msg>() <= 56);
        assert_eq!(std::mem::size_of::<MessageId>(), 16);
    }

    #[test]
    fn a_domain_is_held_once_and_dropped_with_its_last_recipient() {
        let mut d = Domains::default();
        let a = d.intern("a.test");
        assert_eq!(d.intern("a.test"), a);
        let b = d.intern("b.test");
        assert_ne!(a, b);
        d.release(a);
        assert_eq!(d.len(), 2);
        d.release(a);
        assert_eq!(d.len(), 1);
        let c = d.intern("c.test");
        assert_eq!(c, a, "the free slot is reused");
        assert_eq!((d.name(b), d.name(c)), ("b.test", "c.test"));
    }
}
