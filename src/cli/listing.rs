//! The queue listing of `qksmtp queue` and `qksmtp show`, one renderer for both sources: the
//! spool (`render_envelopes` chunk by chunk then `render_end`, and `render_detail`), and the
//! running server's snapshot (`render_snapshot`, `render_view`, served as the API's text form).
//! One block per message (ID, size, age, sender) with a line per recipient and its state.
//! Pure: the scan or snapshot and `now` come from the caller.

use crate::human::{human_size, short_age};
use crate::outcome::GiveUp;
use crate::queue::snapshot::{MessageView, Shown, Snapshot};
use crate::spool::Scan;
use crate::spool::envelope::{Envelope, RecipientState};
use crate::spool::id::MessageId;
use crate::time::Timestamp;
use std::fmt::Write as _;

/// One message as the listing shows it, whichever source it comes from.
struct Listed<'a> {
    id: &'a MessageId,
    size: u64,
    arrival: Timestamp,
    sender: String,
    held: bool,
    recipients: Vec<ListedRecipient<'a>>,
}

/// One recipient line: the state's name, then each note that applies.
struct ListedRecipient<'a> {
    state: &'static str,
    address: String,
    gave_up: Option<GiveUp>,
    /// Direct and relay attempts so far, shown while the recipient still waits.
    tries: Option<(u32, u32)>,
    /// The next attempt, shown while the recipient waits for a retry.
    next: Option<Timestamp>,
    last: Option<&'a str>,
    notice_pending: bool,
}

impl<'a> Listed<'a> {
    /// A message from its spool file, in the running queue's words (`Shown`): what the file
    /// cannot say is whether an attempt runs this moment, so nothing is `sending`.
    fn from_envelope(env: &'a Envelope) -> Listed<'a> {
        let recipients = env.recipients.iter().map(|r| {
            let tries = (r.direct_tries, r.relay_tries);
            let last = r.last_result.as_deref();
            let state = Shown::of(r.state, false, env.held, tries.0 + tries.1);
            ListedRecipient {
                gave_up: r.gave_up.filter(|_| state == Shown::Failed),
                notice_pending: r.owed.is_some(),
                ..ListedRecipient::new(state, r.address.to_string(), tries, r.next_try, last)
            }
        });
        Listed {
            id: &env.id,
            size: env.size,
            arrival: env.arrival,
            sender: env.sender.to_string(),
            held: env.held,
            recipients: recipients.collect(),
        }
    }

    fn from_view(m: &'a MessageView) -> Listed<'a> {
        let recipients = m.recipients.iter().map(|r| {
            let tries = (r.direct_tries, r.relay_tries);
            let last = r.last_result.as_deref();
            ListedRecipient {
                gave_up: r.gave_up,
                notice_pending: r.notice_pending,
                ..ListedRecipient::new(r.state, r.address.clone(), tries, r.next_try, last)
            }
        });
        Listed {
            id: &m.id,
            size: m.size,
            arrival: m.arrival,
            sender: m.sender.clone(),
            held: m.held,
            recipients: recipients.collect(),
        }
    }
}

impl<'a> ListedRecipient<'a> {
    /// The line of a recipient in `state` after `tries` attempts (direct and relay), with
    /// its next attempt shown while it waits for it, and its `last` result.
    fn new(
        state: Shown,
        address: String,
        tries: (u32, u32),
        next: Option<Timestamp>,
        last: Option<&'a str>,
    ) -> Self {
        let waiting = matches!(state, Shown::Deferred | Shown::Held) && tries.0 + tries.1 > 0;
        ListedRecipient {
            state: state.name(),
            address,
            gave_up: None,
            tries: waiting.then_some(tries),
            next: next.filter(|_| state == Shown::Deferred),
            last,
            notice_pending: false,
        }
    }
}

/// Envelopes read from the spool, one block each: `qksmtp queue` prints them a chunk at a
/// time as the spool is read.
pub fn render_envelopes(envelopes: &[Envelope], now: Timestamp) -> String {
    let mut s = String::new();
    for env in envelopes {
        render_message(&mut s, &Listed::from_envelope(env), now);
    }
    s
}

/// The end of the spool listing: the count of what was listed (`messages`, `pending`
/// recipients), then what is damaged or set aside (the rest of the `scan`).
pub fn render_end(messages: usize, pending: usize, scan: &Scan) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{} message{}, {} recipient{} pending",
        messages,
        plural(messages),
        pending,
        plural(pending)
    );
    for (path, why) in &scan.damaged {
        let _ = writeln!(s, "damaged: {} ({why})", path.display());
    }
    for path in &scan.skipped {
        let _ = writeln!(s, "skipped: {} (not a regular file)", path.display());
    }
    s.push_str(&render_corrupt(&scan.corrupt));
    s
}

/// The running server's queue: every message, the totals, then the recently finished.
pub fn render_snapshot(snapshot: &Snapshot) -> String {
    let mut s = String::new();
    for m in &snapshot.messages {
        s.push_str(&render_view(m, snapshot.now));
    }
    let t = snapshot.totals;
    let _ = writeln!(
        s,
        "{} message(s): {} queued, {} sending, {} deferred, {} held (server running since {})",
        t.messages,
        t.queued,
        t.sending,
        t.deferred,
        t.held,
        snapshot.started.iso()
    );
    if !snapshot.finished.is_empty() {
        s.push_str("recently finished:\n");
        for m in &snapshot.finished {
            s.push_str(&render_view(m, snapshot.now));
        }
    }
    s
}

/// One message of the running server's queue.
pub fn render_view(m: &MessageView, now: Timestamp) -> String {
    let mut s = String::new();
    render_message(&mut s, &Listed::from_view(m), now);
    s
}

/// The line about damaged files set aside in `spool/corrupt/` (empty when there are none).
pub fn render_corrupt(names: &[String]) -> String {
    if names.is_empty() {
        return String::new();
    }
    format!(
        "set aside in corrupt/ (damaged, kept for a person to look at): {} file{}: {}\n",
        names.len(),
        plural(names.len()),
        names.join(" ")
    )
}

fn render_message(s: &mut String, m: &Listed, now: Timestamp) {
    let _ = writeln!(
        s,
        "{}  {:>7}  {:>4}  from {}{}",
        m.id,
        human_size(m.size),
        short_age(now.since(m.arrival)),
        m.sender,
        if m.held { "  [held]" } else { "" }
    );
    for r in &m.recipients {
        let _ = write!(s, "    {:<9} {}", r.state, r.address);
        if let Some(why) = r.gave_up {
            let _ = write!(s, "  ({})", why.describe());
        }
        if let Some((direct, relay)) = r.tries {
            let _ = write!(s, "  (tries {direct}+{relay})");
        }
        if let Some(at) = r.next {
            let _ = write!(s, "  (next {})", at.iso());
        }
        if let Some(last) = r.last {
            let _ = write!(s, "  last: {last}");
        }
        if r.notice_pending {
            s.push_str("  (notice to the sender pending)");
        }
        s.push('\n');
    }
}

/// `qksmtp show ID`: the message's envelope, then the step record of every attempt.
pub fn render_detail(env: &Envelope, record: &str, now: Timestamp) -> String {
    let mut s = String::new();
    render_message(&mut s, &Listed::from_envelope(env), now);
    let _ = writeln!(
        s,
        "  arrived {} from [{}] (HELO {})",
        env.arrival.iso(),
        env.client_ip,
        env.helo
    );
    for r in &env.recipients {
        if let Some(at) = r.next_try.filter(|_| r.state == RecipientState::Pending) {
            let _ = writeln!(s, "  next attempt for {} at {}", r.address, at.iso());
        }
    }
    if record.is_empty() {
        s.push_str("  no delivery attempt yet\n");
    } else {
        s.push('\n');
        s.push_str(record);
    }
    s
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::queue::snapshot::{RecipientView, Totals};
    use crate::smtp::{Address, MailParams, ReversePath};
    use crate::spool::envelope::Recipient;

    #[test]
    fn lists_each_message_and_recipient() {
        let mut done = Recipient::new(Address::new("b", "y.test"), None, None);
        done.state = RecipientState::Delivered;
        let mut failed = Recipient::new(Address::new("d", "w.test"), None, None);
        failed.state = RecipientState::Failed;
        failed.gave_up = Some(crate::outcome::GiveUp::Expired);
        failed.owed = Some(crate::outcome::Action::Failed);
        let env = Envelope {
            size: 2048,
            ..envelope(vec![
                Recipient::new(Address::new("c", "z.test"), None, None),
                done,
                failed,
            ])
        };
        let now = Timestamp::from_secs(1_764_000_180);
        let text = render_envelopes(std::slice::from_ref(&env), now)
            + &render_end(1, env.pending().count(), &Scan::default());
        assert_eq!(
            text,
            "6445941624000001     2.0K    3m  from <a@x.test>\n    queued    c@z.test\n    delivered b@y.test\n    failed    d@w.test  (too long in the queue)  (notice to the sender pending)\n1 message, 1 recipient pending\n"
        );
    }

    #[test]
    fn a_spool_file_is_listed_in_the_running_queues_words() {
        let tried = |held: bool| {
            let mut r = Recipient::new(Address::new("r", "z.test"), None, None);
            r.direct_tries = 1;
            r.next_try = Some(Timestamp::from_secs(1_764_003_600));
            r.last_result = Some("451 4.7.1 later".into());
            let mut env = envelope(vec![r]);
            env.held = held;
            render_envelopes(&[env], Timestamp::from_secs(1_764_000_180))
        };
        assert_eq!(
            tried(false),
            "6445941624000001      100    3m  from <a@x.test>\n    deferred  r@z.test  (tries 1+0)  \
             (next 2025-11-24 17:00:00Z)  last: 451 4.7.1 later\n"
        );
        assert_eq!(
            tried(true),
            "6445941624000001      100    3m  from <a@x.test>  [held]\n    held      r@z.test  \
             (tries 1+0)  last: 451 4.7.1 later\n"
        );
    }

    fn envelope(recipients: Vec<Recipient>) -> Envelope {
        Envelope {
            id: MessageId::from_parts(1_764_000_000_000_000, 1),
            arrival: Timestamp::from_secs(1_764_000_000),
            sender: ReversePath::Mailbox(Address::new("a", "x.test")),
            client_ip: "127.0.0.1".parse().unwrap(),
            helo: "h".into(),
            auth_user: None,
            local_user: None,
            size: 100,
            params: MailParams::default(),
            recipients,
            held: false,
            kind: crate::spool::envelope::MessageKind::Mail,
            subject: None,
        }
    }

    #[test]
    fn reports_what_was_set_aside_in_corrupt() {
        assert_eq!(render_corrupt(&[]), "");
        let scan = Scan {
            corrupt: vec!["1111111111111111.env".into(), "1111111111111111.msg".into()],
            ..Scan::default()
        };
        assert_eq!(
            render_end(0, 0, &scan),
            "0 messages, 0 recipients pending\nset aside in corrupt/ (damaged, kept for a person \
             to look at): 2 files: 1111111111111111.env 1111111111111111.msg\n"
        );
    }

    fn view(n: u32, held: bool, recipients: Vec<RecipientView>) -> MessageView {
        MessageView {
            id: MessageId::from_parts(1_764_000_000_000_000, n),
            arrival: Timestamp::from_secs(1_764_000_000),
            sender: "<a@x.test>".into(),
            size: 100,
            subject: None,
            held,
            finished: None,
            recipients,
        }
    }

    fn recipient(address: &str, state: Shown, tries: u32) -> RecipientView {
        RecipientView {
            address: address.into(),
            state,
            next_try: Some(Timestamp::from_secs(1_764_003_600)),
            last_result: (tries > 0).then(|| "451 4.7.1 later".into()),
            direct_tries: tries,
            relay_tries: 0,
            gave_up: None,
            notice_pending: false,
            waiting: None,
        }
    }

    #[test]
    fn lists_the_running_queue_the_same_way() {
        let mut failed = recipient("f@w.test", Shown::Failed, 8);
        failed.gave_up = Some(crate::outcome::GiveUp::AttemptsUsedUp);
        let s = Snapshot {
            now: Timestamp::from_secs(1_764_000_180),
            started: Timestamp::from_secs(1_764_000_000),
            totals: Totals {
                messages: 2,
                queued: 1,
                deferred: 1,
                held: 1,
                ..Totals::default()
            },
            messages: vec![
                view(
                    1,
                    false,
                    vec![
                        recipient("q@a.test", Shown::Queued, 0),
                        recipient("d@a.test", Shown::Deferred, 1),
                    ],
                ),
                view(2, true, vec![recipient("h@a.test", Shown::Held, 1)]),
            ],
            finished: vec![view(3, false, vec![failed])],
            ..Snapshot::default()
        };
        assert_eq!(
            render_snapshot(&s),
            "6445941624000001      100    3m  from <a@x.test>\n\
             \x20   queued    q@a.test\n\
             \x20   deferred  d@a.test  (tries 1+0)  (next 2025-11-24 17:00:00Z)  last: 451 4.7.1 later\n\
             6445941624000002      100    3m  from <a@x.test>  [held]\n\
             \x20   held      h@a.test  (tries 1+0)  last: 451 4.7.1 later\n\
             2 message(s): 1 queued, 0 sending, 1 deferred, 1 held (server running since 2025-11-24 16:00:00Z)\n\
             recently finished:\n\
             6445941624000003      100    3m  from <a@x.test>\n\
             \x20   failed    f@w.test  (all attempts used)  last: 451 4.7.1 later\n"
        );
    }
}
