//! The envelope: who sent a message, to whom, with which DSN requests, and where each
//! recipient stands; and its versioned text file format (pure render and parse).
//!
//! Format (version 1), one `key value` per line, values percent-encoded (`%XX` for bytes
//! below 0x21, `%` and 0x7F); keys and recipient fields this version does not know are
//! skipped (see `Builder::apply`):
//! ```text
//! qksmtp-envelope 1
//! id 019A8E2F1C3B4007
//! arrival 1764000000123456
//! from alice@example.test            (or <>)
//! client 127.0.0.1
//! helo laptop.example.test
//! auth alice                          (only when authenticated)
//! user 1000 alice                     (only from a local user, through `submit.sock`)
//! size 2048
//! body 8bitmime                       (or 7bit)
//! smtputf8 0
//! ret hdrs                            (optional: full|hdrs)
//! held 1                              (optional: `qksmtp hold`; absent = not held)
//! envid abc%20123                     (optional, decoded ENVID)
//! kind bounce                         (optional: a notice qksmtp wrote; absent = mail)
//! subject Monthly%20report            (the decoded Subject, cut short; empty: it has none;
//!                                      absent: an envelope from before it was kept)
//! rcpt bob@example.test state=pending notify=success,failure orcpt=rfc822;bob@example.test tries=0/0 next=0
//! ```
//! Recipient fields after `tries` and `next` are optional: `tried=` (when the last attempt
//! ended, microseconds like `next`), `last=` (the last result),
//! `status=5.1.1` (its RFC 3463 status), `ended=permanent|attempts|expired` (why a failed
//! recipient was given up), `warned=1` (the sender has had the delay notice) and `owed=failed|delivered|relayed` (the
//! sender is owed that notice about this final recipient: it could not be written yet). Files
//! without them read as before.

use crate::outcome::{Action, GiveUp};
use crate::smtp::reply::Enhanced;
use crate::smtp::{Address, Body, MailParams, Notify, Orcpt, Ret, ReversePath};
use crate::spool::id::MessageId;
use crate::time::Timestamp;
use std::fmt::Write as _;
use std::net::IpAddr;

pub const MAGIC: &str = "qksmtp-envelope";
pub const VERSION: u32 = 1;

/// Where a recipient stands. Only the scheduler changes it after the commit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecipientState {
    Pending,
    Delivered,
    Failed,
}

impl RecipientState {
    pub fn name(self) -> &'static str {
        match self {
            RecipientState::Pending => "pending",
            RecipientState::Delivered => "delivered",
            RecipientState::Failed => "failed",
        }
    }
    fn parse(s: &str) -> Option<RecipientState> {
        [
            RecipientState::Pending,
            RecipientState::Delivered,
            RecipientState::Failed,
        ]
        .into_iter()
        .find(|st| st.name() == s)
    }
}

/// What a spooled message is: mail someone submitted, or a notice qksmtp wrote to a sender
/// (a bounce, delay notice or delivery receipt), which has its own, shorter lifetime.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MessageKind {
    #[default]
    Mail,
    Bounce,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recipient {
    pub address: Address,
    pub notify: Option<Notify>,
    pub orcpt: Option<Orcpt>,
    pub state: RecipientState,
    /// Direct attempts made so far.
    pub direct_tries: u32,
    /// Relay attempts made so far.
    pub relay_tries: u32,
    /// When the next attempt is due (`None`: as soon as possible).
    pub next_try: Option<Timestamp>,
    /// When the last attempt ended (`None`: never tried).
    pub last_attempt: Option<Timestamp>,
    /// The last result in one line (for listings), e.g. `451 4.7.1 try later`.
    pub last_result: Option<String>,
    /// The RFC 3463 status of the last result (for a notice rebuilt after a restart).
    pub last_status: Option<Enhanced>,
    /// Why a failed recipient was given up.
    pub gave_up: Option<GiveUp>,
    /// The sender has been sent the delay notice for this recipient (at most one).
    pub warned: bool,
    /// A final recipient whose notice to the sender (a bounce or a receipt, by its action)
    /// is not written yet: the message stays queued until it is.
    pub owed: Option<Action>,
}

impl Recipient {
    pub fn new(address: Address, notify: Option<Notify>, orcpt: Option<Orcpt>) -> Recipient {
        Recipient {
            address,
            notify,
            orcpt,
            state: RecipientState::Pending,
            direct_tries: 0,
            relay_tries: 0,
            next_try: None,
            last_attempt: None,
            last_result: None,
            last_status: None,
            gave_up: None,
            warned: false,
            owed: None,
        }
    }
}

/// A user of this computer, known by the user ID the system gave for a socket's peer (so it
/// cannot be forged by the sender), with the account's name when there is one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalUser {
    pub uid: u32,
    pub name: Option<String>,
}

impl std::fmt::Display for LocalUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.name {
            Some(name) => write!(f, "uid {} ({name})", self.uid),
            None => write!(f, "uid {}", self.uid),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    pub id: MessageId,
    pub arrival: Timestamp,
    pub sender: ReversePath,
    pub client_ip: IpAddr,
    pub helo: String,
    pub auth_user: Option<String>,
    /// The user of this computer who handed the message over (`qksmtp send` through the
    /// server's socket), as the system told the server.
    pub local_user: Option<LocalUser>,
    /// Size of the message file in bytes.
    pub size: u64,
    pub params: MailParams,
    pub recipients: Vec<Recipient>,
    /// Held (`qksmtp hold`): its recipients are not tried until released.
    pub held: bool,
    pub kind: MessageKind,
    /// The message's Subject as the intake read it (`headers::subject`; empty: it has none),
    /// for the page's listing and search without reading the message file. `None`: not
    /// recorded (an envelope from before qksmtp kept it).
    pub subject: Option<String>,
}

impl Envelope {
    pub fn pending(&self) -> impl Iterator<Item = &Recipient> {
        self.recipients
            .iter()
            .filter(|r| r.state == RecipientState::Pending)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvelopeError {
    pub line: usize,
    pub message: String,
}

impl std::fmt::Display for EnvelopeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "envelope line {}: {}", self.line, self.message)
    }
}

/// Percent-encodes what would break the line format.
pub fn encode(s: &str) -> String {
    let mut out = Vec::with_capacity(s.len());
    for &b in s.as_bytes() {
        if b < 0x21 || b == b'%' || b == 0x7F {
            out.extend_from_slice(format!("%{b:02X}").as_bytes());
        } else {
            out.push(b);
        }
    }
    String::from_utf8(out).expect("only ASCII bytes were replaced")
}

pub fn decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

fn address_text(a: &Address) -> String {
    encode(&a.to_string())
}

/// A stored address: a mailbox as the server accepted it (so an unquoted `@` in the local
/// part, e.g. `a@x.test@`, is damage, not an address that would read back differently after
/// the next rewrite), or a bare local part (`postmaster`).
fn parse_address(s: &str) -> Option<Address> {
    let text = decode(s)?;
    if text.contains('@') {
        crate::smtp::address::parse_mailbox(&text)
    } else if text.is_empty() {
        None
    } else {
        Some(Address::new(text, ""))
    }
}

fn notify_text(n: Notify) -> String {
    match n {
        Notify::Never => "never".into(),
        Notify::On {
            success,
            failure,
            delay,
        } => {
            let parts: Vec<&str> = [(success, "success"), (failure, "failure"), (delay, "delay")]
                .into_iter()
                .filter_map(|(on, name)| on.then_some(name))
                .collect();
            parts.join(",")
        }
    }
}

fn parse_notify(s: &str) -> Option<Notify> {
    if s == "never" {
        return Some(Notify::Never);
    }
    let (mut success, mut failure, mut delay) = (false, false, false);
    for part in s.split(',') {
        match part {
            "success" => success = true,
            "failure" => failure = true,
            "delay" => delay = true,
            _ => return None,
        }
    }
    Some(Notify::On {
        success,
        failure,
        delay,
    })
}

/// Renders the envelope file.
pub fn render(env: &Envelope) -> String {
    let mut s = String::with_capacity(256 + 96 * env.recipients.len());
    let _ = writeln!(s, "{MAGIC} {VERSION}");
    let _ = writeln!(s, "id {}", env.id);
    let _ = writeln!(s, "arrival {}", env.arrival.as_micros());
    match &env.sender {
        ReversePath::Null => s.push_str("from <>\n"),
        ReversePath::Mailbox(a) => {
            let _ = writeln!(s, "from {}", address_text(a));
        }
    }
    let _ = writeln!(s, "client {}", env.client_ip);
    let _ = writeln!(s, "helo {}", encode(&env.helo));
    if let Some(user) = &env.auth_user {
        let _ = writeln!(s, "auth {}", encode(user));
    }
    match &env.local_user {
        Some(LocalUser {
            uid,
            name: Some(name),
        }) => {
            let _ = writeln!(s, "user {uid} {}", encode(name));
        }
        Some(LocalUser { uid, name: None }) => {
            let _ = writeln!(s, "user {uid}");
        }
        None => {}
    }
    let _ = writeln!(s, "size {}", env.size);
    let body = match env.params.body {
        Body::SevenBit => "7bit",
        Body::EightBitMime => "8bitmime",
    };
    let _ = writeln!(s, "body {body}");
    let _ = writeln!(s, "smtputf8 {}", u8::from(env.params.smtputf8));
    if let Some(size) = env.params.size {
        let _ = writeln!(s, "declared_size {size}");
    }
    match env.params.ret {
        Some(Ret::Full) => s.push_str("ret full\n"),
        Some(Ret::Headers) => s.push_str("ret hdrs\n"),
        None => {}
    }
    if let Some(envid) = &env.params.envid {
        let _ = writeln!(s, "envid {}", encode(envid));
    }
    if let Some(auth) = &env.params.auth {
        let _ = writeln!(s, "mail_auth {}", encode(auth));
    }
    if env.held {
        s.push_str("held 1\n");
    }
    match env.kind {
        MessageKind::Mail => {}
        MessageKind::Bounce => s.push_str("kind bounce\n"),
    }
    if let Some(subject) = &env.subject {
        let _ = writeln!(s, "subject {}", encode(subject));
    }
    for r in &env.recipients {
        render_recipient(&mut s, r);
    }
    s
}

fn render_recipient(s: &mut String, r: &Recipient) {
    let _ = write!(
        s,
        "rcpt {} state={}",
        address_text(&r.address),
        r.state.name()
    );
    if let Some(n) = r.notify {
        let _ = write!(s, " notify={}", notify_text(n));
    }
    if let Some(o) = &r.orcpt {
        let _ = write!(s, " orcpt={};{}", encode(&o.addr_type), encode(&o.address));
    }
    let _ = write!(s, " tries={}/{}", r.direct_tries, r.relay_tries);
    let _ = write!(s, " next={}", r.next_try.map_or(0, |t| t.as_micros()));
    if let Some(at) = r.last_attempt {
        let _ = write!(s, " tried={}", at.as_micros());
    }
    if let Some(last) = &r.last_result {
        let _ = write!(s, " last={}", encode(last));
    }
    if let Some(status) = r.last_status {
        let _ = write!(s, " status={status}");
    }
    if let Some(why) = r.gave_up {
        let _ = write!(s, " ended={}", why.name());
    }
    if r.warned {
        s.push_str(" warned=1");
    }
    if let Some(a) = r.owed {
        let _ = write!(s, " owed={}", a.name());
    }
    s.push('\n');
}

/// Parses an envelope file; any damage is an error naming the line. Keys and recipient
/// fields this version does not know are skipped, each logged once per process.
pub fn parse(text: &str) -> Result<Envelope, EnvelopeError> {
    let (envelope, skipped) = read(text)?;
    for key in skipped {
        log_skipped_once(key);
    }
    Ok(envelope)
}

/// Warns of a key from a newer qksmtp the first time this process meets it (a queue of
/// thousands of such envelopes says it once).
fn log_skipped_once(key: String) {
    static LOGGED: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());
    let mut logged = LOGGED.lock().unwrap_or_else(|e| e.into_inner());
    if !logged.contains(&key) {
        log::warn!(
            "envelope {key} is not known to this qksmtp (a newer one wrote it): skipped, \
             the message is kept and delivered as this version reads it"
        );
        logged.push(key);
    }
}

/// `parse` without the logging: the envelope, and the keys and recipient fields skipped (as
/// `key "name"` and `recipient field "name"`).
fn read(text: &str) -> Result<(Envelope, Vec<String>), EnvelopeError> {
    let mut lines = text.lines().enumerate();
    let err = |line: usize, message: String| EnvelopeError {
        line: line + 1,
        message,
    };
    let (_, first) = lines.next().ok_or_else(|| err(0, "empty file".into()))?;
    let version = first
        .strip_prefix(MAGIC)
        .and_then(|v| v.trim().parse::<u32>().ok())
        .ok_or_else(|| err(0, "not a qksmtp envelope".into()))?;
    if version != VERSION {
        return Err(err(
            0,
            format!("envelope version {version} is not known to this qksmtp"),
        ));
    }
    let mut b = Builder::default();
    for (n, line) in lines {
        let (key, value) = line.split_once(' ').unwrap_or((line, ""));
        b.apply(key, value).map_err(|m| err(n, m))?;
    }
    let skipped = std::mem::take(&mut b.skipped);
    let envelope = b
        .finish()
        .map_err(|m| err(text.lines().count().saturating_sub(1), m))?;
    Ok((envelope, skipped))
}

/// Whether `name` could be a key or field of some qksmtp's envelope: lower-case letters,
/// digits and `_`. Anything else is damage, not a key from a newer version.
fn is_key_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

/// Notes a key or field this version does not know, once per envelope.
fn skip(skipped: &mut Vec<String>, what: &str, name: &str) -> Result<(), String> {
    if !is_key_name(name) {
        return Err(format!("bad {what} {name:?}"));
    }
    let named = format!("{what} {name:?}");
    if !skipped.contains(&named) {
        skipped.push(named);
    }
    Ok(())
}

#[derive(Default)]
struct Builder {
    id: Option<MessageId>,
    arrival: Option<Timestamp>,
    sender: Option<ReversePath>,
    client_ip: Option<IpAddr>,
    helo: Option<String>,
    auth_user: Option<String>,
    local_user: Option<LocalUser>,
    size: Option<u64>,
    params: MailParams,
    recipients: Vec<Recipient>,
    held: bool,
    kind: MessageKind,
    subject: Option<String>,
    /// The keys met so far: each but `rcpt` may appear once (a second `from` or `held` is
    /// damage, not a value to take).
    seen: Vec<String>,
    /// The keys and recipient fields this version does not know.
    skipped: Vec<String>,
}

impl Builder {
    /// Takes one line. A key this version does not know is skipped rather than refused: it
    /// came from a newer qksmtp (this one writes only keys it reads), run here before this
    /// one with mail still queued. That is safe because every key added to format 1 is
    /// optional (a newer qksmtp reads files without it as those written before it existed,
    /// and a change that cannot be read that way raises `VERSION`, which is still refused),
    /// so the file reads as one written before the key existed. The message and every
    /// recipient are kept; only what the key said is not acted on here, and it is dropped if
    /// this version rewrites the file.
    fn apply(&mut self, key: &str, value: &str) -> Result<(), String> {
        if key != "rcpt" && self.seen.iter().any(|k| k == key) {
            return Err(format!("{key} given twice"));
        }
        if self.set(key, value)? {
            if key != "rcpt" {
                self.seen.push(key.to_string());
            }
            Ok(())
        } else {
            skip(&mut self.skipped, "key", key)
        }
    }

    /// Takes a known key's value; false for a key this version does not know.
    fn set(&mut self, key: &str, value: &str) -> Result<bool, String> {
        let bad = || format!("bad value for {key}: {value:?}");
        match key {
            "id" => self.id = Some(MessageId::parse(value).ok_or_else(bad)?),
            "arrival" => self.arrival = Some(Timestamp(value.parse().map_err(|_| bad())?)),
            "from" if value == "<>" => self.sender = Some(ReversePath::Null),
            "from" => {
                self.sender = Some(ReversePath::Mailbox(parse_address(value).ok_or_else(bad)?))
            }
            "client" => self.client_ip = Some(value.parse().map_err(|_| bad())?),
            "helo" => self.helo = Some(decode(value).ok_or_else(bad)?),
            "auth" => self.auth_user = Some(decode(value).ok_or_else(bad)?),
            "user" => {
                let (uid, name) = match value.split_once(' ') {
                    Some((uid, name)) => (uid, Some(decode(name).ok_or_else(bad)?)),
                    None => (value, None),
                };
                let uid = uid.parse().map_err(|_| bad())?;
                self.local_user = Some(LocalUser { uid, name });
            }
            "size" => self.size = Some(value.parse().map_err(|_| bad())?),
            "body" => {
                self.params.body = match value {
                    "7bit" => Body::SevenBit,
                    "8bitmime" => Body::EightBitMime,
                    _ => return Err(bad()),
                }
            }
            "smtputf8" => self.params.smtputf8 = value == "1",
            "declared_size" => self.params.size = Some(value.parse().map_err(|_| bad())?),
            "ret" => {
                self.params.ret = Some(match value {
                    "full" => Ret::Full,
                    "hdrs" => Ret::Headers,
                    _ => return Err(bad()),
                })
            }
            "envid" => self.params.envid = Some(decode(value).ok_or_else(bad)?),
            "mail_auth" => self.params.auth = Some(decode(value).ok_or_else(bad)?),
            "kind" => {
                self.kind = match value {
                    "mail" => MessageKind::Mail,
                    "bounce" => MessageKind::Bounce,
                    _ => return Err(bad()),
                }
            }
            "subject" => self.subject = Some(decode(value).ok_or_else(bad)?),
            "rcpt" => self
                .recipients
                .push(parse_recipient(value, &mut self.skipped)?),
            "held" => self.held = value == "1",
            _ => return Ok(false),
        }
        Ok(true)
    }

    fn finish(mut self) -> Result<Envelope, String> {
        let missing = |k: &str| format!("missing {k}");
        // The first push reserves room for four: a queued envelope keeps only its own.
        self.recipients.shrink_to_fit();
        if self.recipients.is_empty() {
            return Err(missing("rcpt"));
        }
        Ok(Envelope {
            id: self.id.ok_or_else(|| missing("id"))?,
            arrival: self.arrival.ok_or_else(|| missing("arrival"))?,
            sender: self.sender.ok_or_else(|| missing("from"))?,
            client_ip: self.client_ip.ok_or_else(|| missing("client"))?,
            helo: self.helo.unwrap_or_default(),
            auth_user: self.auth_user,
            local_user: self.local_user,
            size: self.size.ok_or_else(|| missing("size"))?,
            params: self.params,
            recipients: self.recipients,
            held: self.held,
            kind: self.kind,
            subject: self.subject,
        })
    }
}

/// One `rcpt` line; fields this version does not know are noted in `skipped` (see
/// `Builder::apply` for why that is safe).
fn parse_recipient(value: &str, skipped: &mut Vec<String>) -> Result<Recipient, String> {
    let mut fields = value.split(' ');
    let address = fields
        .next()
        .and_then(parse_address)
        .ok_or("bad recipient address")?;
    let mut r = Recipient::new(address, None, None);
    let mut seen_state = false;
    let mut seen: Vec<&str> = Vec::new();
    for field in fields {
        let (k, v) = field
            .split_once('=')
            .ok_or_else(|| format!("bad recipient field {field:?}"))?;
        if seen.contains(&k) {
            return Err(format!("recipient field {k} given twice"));
        }
        seen.push(k);
        let bad = || format!("bad recipient field {field:?}");
        match k {
            "state" => {
                r.state = RecipientState::parse(v).ok_or_else(bad)?;
                seen_state = true;
            }
            "notify" => r.notify = Some(parse_notify(v).ok_or_else(bad)?),
            "orcpt" => {
                let (t, a) = v.split_once(';').ok_or_else(bad)?;
                let addr_type = decode(t).ok_or_else(bad)?;
                r.orcpt = Some(Orcpt {
                    addr_type,
                    address: decode(a).ok_or_else(bad)?,
                });
            }
            "tries" => {
                let (d, rl) = v.split_once('/').ok_or_else(bad)?;
                r.direct_tries = d.parse().map_err(|_| bad())?;
                r.relay_tries = rl.parse().map_err(|_| bad())?;
            }
            "next" => {
                let micros: u64 = v.parse().map_err(|_| bad())?;
                r.next_try = (micros != 0).then_some(Timestamp(micros));
            }
            "tried" => r.last_attempt = Some(Timestamp(v.parse().map_err(|_| bad())?)),
            "last" => r.last_result = Some(decode(v).ok_or_else(bad)?),
            "status" => r.last_status = Some(Enhanced::parse(v).ok_or_else(bad)?),
            "ended" => r.gave_up = Some(GiveUp::parse(v).ok_or_else(bad)?),
            "warned" => {
                r.warned = match v {
                    "0" => false,
                    "1" => true,
                    _ => return Err(bad()),
                }
            }
            "owed" => {
                r.owed = Some(match v {
                    "failed" => Action::Failed,
                    "delivered" => Action::Delivered,
                    "relayed" => Action::Relayed,
                    _ => return Err(bad()),
                })
            }
            _ => skip(skipped, "recipient field", k)?,
        }
    }
    if !seen_state {
        return Err("recipient without state".into());
    }
    Ok(r)
}

#[cfg(test)]
mod tests;
