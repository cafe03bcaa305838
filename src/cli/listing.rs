//! The spool listing of `qksmtp queue`: one block per message (ID, size, age, sender) with a
//! line per recipient and its state. Pure: the scan and `now` come from the caller.

use crate::spool::Scan;
use crate::spool::envelope::{Envelope, RecipientState};
use crate::time::{Timestamp, short_age};
use std::fmt::Write as _;

pub fn render(scan: &Scan, now: Timestamp) -> String {
    let mut s = String::new();
    for env in &scan.envelopes {
        render_message(&mut s, env, now);
    }
    let pending: usize = scan.envelopes.iter().map(|e| e.pending().count()).sum();
    let _ = writeln!(
        s,
        "{} message{}, {} recipient{} pending",
        scan.envelopes.len(),
        plural(scan.envelopes.len()),
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

fn render_message(s: &mut String, env: &Envelope, now: Timestamp) {
    let _ = writeln!(
        s,
        "{}  {:>7}  {:>4}  from {}{}",
        env.id,
        human_size(env.size),
        short_age(now.since(env.arrival)),
        env.sender,
        if env.held { "  [held]" } else { "" }
    );
    for r in &env.recipients {
        let _ = write!(s, "    {:<9} {}", r.state.name(), r.address);
        if let Some(why) = r.gave_up.filter(|_| r.state == RecipientState::Failed) {
            let _ = write!(s, "  ({})", why.describe());
        }
        if r.state == RecipientState::Pending && r.direct_tries + r.relay_tries > 0 {
            let _ = write!(s, "  (tries {}+{})", r.direct_tries, r.relay_tries);
        }
        if let Some(last) = &r.last_result {
            let _ = write!(s, "  last: {last}");
        }
        if r.owed.is_some() {
            s.push_str("  (notice to the sender pending)");
        }
        s.push('\n');
    }
}

/// `qksmtp show ID`: the message's envelope, then the step record of every attempt.
pub fn render_detail(env: &Envelope, record: &str, now: Timestamp) -> String {
    let mut s = String::new();
    render_message(&mut s, env, now);
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

/// `512`, `2.0K`, `25.0M`.
pub fn human_size(bytes: u64) -> String {
    match bytes {
        0..=1023 => bytes.to_string(),
        1024..=1_048_575 => format!("{:.1}K", bytes as f64 / 1024.0),
        _ => format!("{:.1}M", bytes as f64 / 1_048_576.0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::smtp::{Address, MailParams, ReversePath};
    use crate::spool::envelope::Recipient;
    use crate::spool::id::MessageId;

    #[test]
    fn lists_each_message_and_recipient() {
        let mut done = Recipient::new(Address::new("b", "y.test"), None, None);
        done.state = RecipientState::Delivered;
        let mut failed = Recipient::new(Address::new("d", "w.test"), None, None);
        failed.state = RecipientState::Failed;
        failed.gave_up = Some(crate::outcome::GiveUp::Expired);
        failed.owed = Some(crate::outcome::Action::Failed);
        let env = Envelope {
            id: MessageId::from_parts(1_764_000_000_000_000, 1),
            arrival: Timestamp::from_secs(1_764_000_000),
            sender: ReversePath::Mailbox(Address::new("a", "x.test")),
            client_ip: "127.0.0.1".parse().unwrap(),
            helo: "h".into(),
            auth_user: None,
            size: 2048,
            params: MailParams::default(),
            recipients: vec![
                Recipient::new(Address::new("c", "z.test"), None, None),
                done,
                failed,
            ],
            held: false,
            kind: crate::spool::envelope::MessageKind::Mail,
        };
        let scan = Scan {
            envelopes: vec![env],
            ..Scan::default()
        };
        let text = render(&scan, Timestamp::from_secs(1_764_000_180));
        assert_eq!(
            text,
            "6445941624000001     2.0K    3m  from <a@x.test>\n    pending   c@z.test\n    delivered b@y.test\n    failed    d@w.test  (too long in the queue)  (notice to the sender pending)\n1 message, 1 recipient pending\n"
        );
    }

    #[test]
    fn reports_what_was_set_aside_in_corrupt() {
        assert_eq!(render_corrupt(&[]), "");
        let scan = Scan {
            corrupt: vec!["1111111111111111.env".into(), "1111111111111111.msg".into()],
            ..Scan::default()
        };
        assert_eq!(
            render(&scan, Timestamp::from_secs(0)),
            "0 messages, 0 recipients pending\nset aside in corrupt/ (damaged, kept for a person \
             to look at): 2 files: 1111111111111111.env 1111111111111111.msg\n"
        );
    }
}
