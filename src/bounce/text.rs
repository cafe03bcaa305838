//! The plain-language part of a notice: for each recipient what happened (hard or soft
//! bounce, delayed, delivered), what the sender can do, the failing step, the remote server's
//! exact reply, and the attempts made over what time. Pure; lines end with `\n`.

use super::{Notice, NoticeKind, Reported};
use crate::outcome::Action;
use crate::outcome::GiveUp;
use crate::outcome::{Outcome, Verdict, step_name};
use crate::time::Timestamp;
use crate::transcript::StepKind;
use std::fmt::Write as _;
use std::time::Duration;

const WIDTH: usize = 76;

/// The whole text part. `subject` is the original message's subject, if it had one.
pub fn body(notice: &Notice, host: &str, subject: Option<&str>, now: Timestamp) -> String {
    let mut out = format!("This is the mail system at {host} (qksmtp).\n\n");
    let total = notice.envelope.recipients.len();
    let kind = notice.kind();
    let main = |a: Action| match kind {
        NoticeKind::Bounce => a == Action::Failed,
        NoticeKind::Delay => a == Action::Delayed,
        NoticeKind::Receipt => true,
    };
    let count = notice.recipients.iter().filter(|r| main(r.action)).count();
    let of = if total == 1 {
        "its recipient".to_string()
    } else {
        format!("{count} of its {total} recipients")
    };
    let mut intro = match kind {
        NoticeKind::Bounce => format!(
            "Your message could not be delivered to {of}. The details are below, one \
             section per recipient."
        ),
        NoticeKind::Delay => format!(
            "Your message has not been delivered to {of} yet. There is nothing you need to do \
             now: qksmtp keeps trying, and you will get another message only if it finally \
             fails."
        ),
        NoticeKind::Receipt => {
            format!("Your message was delivered to {of}, as you asked to be told.")
        }
    };
    if notice.recipients.len() > count {
        intro.push_str(" The delivery receipts you asked for are included.");
    }
    out.push_str(&wrap(&intro, ""));
    out.push('\n');
    if let Some(s) = subject {
        let _ = writeln!(out, "  Subject:  {s}");
    }
    let _ = writeln!(out, "  Accepted: {}", notice.envelope.arrival.rfc5322());
    let _ = writeln!(out, "  From:     {}", notice.envelope.sender);
    for r in &notice.recipients {
        out.push('\n');
        recipient_section(&mut out, notice, r, now);
    }
    out
}

fn recipient_section(out: &mut String, notice: &Notice, r: &Reported, now: Timestamp) {
    let rcpt = notice.recipient(r);
    let headline = match (r.action, r.why) {
        (Action::Failed, Some(GiveUp::Permanent)) => "NOT DELIVERED (hard bounce)",
        (Action::Failed, Some(_)) => "NOT DELIVERED (soft bounce)",
        (Action::Failed, None) => "NOT DELIVERED",
        (Action::Delayed, _) => "DELAYED (still trying)",
        (Action::Delivered, _) => "DELIVERED",
        (Action::Relayed, _) => "DELIVERED (handed over)",
    };
    let _ = writeln!(out, "--- {}: {headline}", rcpt.address);
    let (what, advice) = explain(notice, r);
    out.push_str(&wrap(&what, "    "));
    out.push_str(&wrap(&format!("What you can do: {advice}"), "    "));
    if let Some(o) = &r.outcome {
        let label = match r.action {
            Action::Failed => "Failing step",
            Action::Delayed => "Last step",
            Action::Delivered | Action::Relayed => "Step",
        };
        let _ = writeln!(out, "    {label}: {}", step_text(o));
        match &o.reply {
            Some(reply) => {
                // Exactly as the server sent it, one line per reply line.
                let wire = String::from_utf8_lossy(&reply.to_wire()).into_owned();
                for (n, line) in wire.lines().enumerate() {
                    let label = if n == 0 {
                        "Server reply:"
                    } else {
                        "             "
                    };
                    let _ = writeln!(out, "    {label} {}", clean(line));
                }
            }
            None => {
                let _ = writeln!(out, "    Reason: {}", clean(&o.detail));
            }
        }
    } else if let Some(last) = &rcpt.last_result {
        let _ = writeln!(out, "    Last result: {}", clean(last));
    }
    let attempts = rcpt.direct_tries + rcpt.relay_tries;
    let plural = if attempts == 1 { "" } else { "s" };
    let span = span(now.since(notice.envelope.arrival));
    let _ = writeln!(out, "    Attempts: {attempts} attempt{plural} over {span}");
    if let (Action::Delayed, Some(until)) = (r.action, notice.retry_until) {
        let _ = writeln!(out, "    Trying until: {}", until.rfc5322());
    }
}

/// "RCPT TO at mx1.example.test [192.0.2.1]:25", or "DNS lookup of nowhere.test".
pub fn step_text(o: &Outcome) -> String {
    match (o.step, o.route.is_empty()) {
        (_, true) => step_name(o.step).to_string(),
        (StepKind::Dns, false) => format!("DNS lookup of {}", o.route),
        (step, false) => format!("{} at {}", step_name(step), o.route),
    }
}

/// What happened, and what the sender can do about it, in plain words.
fn explain(notice: &Notice, r: &Reported) -> (String, String) {
    match r.action {
        Action::Delivered => (
            "The recipient's mail server accepted the message.".into(),
            "nothing; this is your delivery receipt. The recipient's server may still \
             report on its own if it cannot put the message in the mailbox."
                .into(),
        ),
        Action::Relayed => (
            "The recipient's mail server accepted the message. It does not send delivery \
             reports, so this is the last word you will get about this recipient."
                .into(),
            "nothing; this is your delivery receipt.".into(),
        ),
        Action::Delayed => {
            let cause = cause_words(notice, r).unwrap_or_else(|| {
                "The recipient's mail server has not accepted the message yet.".into()
            });
            let advice = if dns_trouble(r) {
                "nothing yet: qksmtp could not look up the domain; will try again. If this \
                 lasts, check the part after the @ for typing mistakes."
            } else {
                "nothing yet. If the message is urgent, reach the recipient another way."
            };
            (cause.to_string(), advice.into())
        }
        Action::Failed => failed_words(notice, r),
    }
}

fn failed_words(notice: &Notice, r: &Reported) -> (String, String) {
    let cause =
        cause_words(notice, r).unwrap_or_else(|| "The message could not be delivered.".into());
    let rcpt = notice.recipient(r);
    let attempts = rcpt.direct_tries + rcpt.relay_tries;
    let tried = if attempts == 1 {
        "once".to_string()
    } else {
        format!("{attempts} times")
    };
    let ended = match r.why {
        Some(GiveUp::Permanent) => {
            let advice = r.outcome.as_ref().map_or(GENERIC_HARD, hard_advice);
            return (
                format!(
                    "{cause} This is permanent: sending again unchanged will fail the same way."
                ),
                advice.to_string(),
            );
        }
        Some(GiveUp::Expired) => "the message was too long in the queue",
        Some(GiveUp::AttemptsUsedUp) => "all attempts were used up",
        // A notice rebuilt from a spool written before the reason was kept.
        None => {
            return (
                format!("{cause} qksmtp tried {tried} and gave up."),
                GENERIC_HARD.into(),
            );
        }
    };
    (
        format!(
            "{cause} This was a temporary problem, but it lasted: qksmtp tried {tried} and \
             gave up because {ended}."
        ),
        if dns_trouble(r) {
            "qksmtp could not look up the domain, so nothing says whether the address is \
             right: check the part after the @ for typing mistakes and that DNS works on this \
             computer (dns_server in qksmtp.ini), then send the message again."
        } else if r.outcome.as_ref().is_some_and(|o| o.unmet_tls().is_some()) {
            TLS_ADVICE
        } else {
            "the address is probably right. Send the message again later, or reach the \
             recipient another way."
        }
        .into(),
    )
}

/// The last result was a DNS lookup that failed for now (no answer, SERVFAIL): nothing is
/// known about the address.
fn dns_trouble(r: &Reported) -> bool {
    r.outcome
        .as_ref()
        .is_some_and(|o| o.step == StepKind::Dns && o.verdict == Verdict::Temporary)
}

const GENERIC_HARD: &str =
    "check the recipient's address; if it is right, reach the recipient another way.";

const TLS_ADVICE: &str = "the address is probably right, but the recipient's mail server must \
     present a valid certificate over an encrypted connection before mail can go there: tell \
     the recipient's administrators, or reach the recipient another way.";

/// The cause in plain words, when the outcome is known: a TLS requirement the server did not
/// meet says which, whose, and what went wrong; anything else as `cause` says it.
fn cause_words(notice: &Notice, r: &Reported) -> Option<String> {
    let o = r.outcome.as_ref()?;
    let domain = &notice.recipient(r).address.domain;
    match o.tls_unmet_words(domain) {
        Some(words) => Some(format!("{}, so the message was not sent.", clean(&words))),
        None => Some(cause(o).to_string()),
    }
}

/// One sentence on the cause, from the status code and the step.
fn cause(o: &Outcome) -> &'static str {
    let s = o.status;
    match (s.class, s.subject, s.detail) {
        (2, _, _) => "The recipient's mail server accepted the message.",
        (5, 1, 10) => "The recipient's domain says it accepts no mail at all (null MX).",
        (5, 1, 2) => "The recipient's domain does not exist.",
        (5, 1, _) => "The recipient's mail server says this address does not exist.",
        (_, 2, 2) => "The recipient's mailbox is full.",
        (_, 2, 3) => "The message is too big for the recipient's mailbox.",
        (_, 2, _) => "The recipient's mailbox is disabled or not accepting mail.",
        (_, 3, 4) => "The message is too big for the recipient's mail server.",
        (5, 4, 4) => "The recipient's domain has no mail server that can be reached.",
        (5, 6, _) => "The recipient's mail server refused the content or format of the message.",
        (5, 7, _) => {
            "The recipient's mail server refused the message by policy: it does not accept \
             mail from this computer, or it took the message for spam."
        }
        (4, 4, 1) | (4, 4, 2) if o.verdict == Verdict::Temporary => {
            "The recipient's mail server could not be reached, or the connection broke."
        }
        (4, 4, 3) => "qksmtp could not look up the recipient's domain in DNS.",
        (4, 4, 7) => "The message could not be delivered in the time allowed.",
        (4, 7, _) => {
            "The recipient's mail server asked to try again later (greylisting or a \
             temporary policy)."
        }
        (4, _, _) => "The recipient's mail server was busy or had a temporary problem.",
        _ => "The recipient's mail server refused the message.",
    }
}

fn hard_advice(o: &Outcome) -> &'static str {
    let s = o.status;
    match (s.subject, s.detail) {
        (1, 2) | (1, 10) | (4, 4) => {
            "check the part after the @ for typing mistakes, or ask the recipient for their \
             current address."
        }
        (1, _) => {
            "check the address for typing mistakes, or ask the recipient for their current \
             address."
        }
        (3, 4) | (2, 3) => {
            "send it again with smaller attachments, or share big files through a link."
        }
        (2, _) => "reach the recipient another way; try again when their mailbox works.",
        (6, _) => "check the attachments and formatting, then send again.",
        (7, _) => {
            "if the reply mentions blocking or an IP address, send through your provider's \
             relay server (a [relay:NAME] section and relay_attempts in qksmtp.ini); \
             otherwise reach the recipient another way."
        }
        _ => GENERIC_HARD,
    }
}

/// "2 seconds", "3 minutes", "1 hour 5 minutes", "2 days 3 hours".
pub fn span(d: Duration) -> String {
    let s = d.as_secs();
    let unit = |n: u64, word: &str| format!("{n} {word}{}", if n == 1 { "" } else { "s" });
    match s {
        0..=59 => unit(s, "second"),
        60..=3599 => unit(s / 60, "minute"),
        3600..=86_399 => match s % 3600 / 60 {
            0 => unit(s / 3600, "hour"),
            m => format!("{} {}", unit(s / 3600, "hour"), unit(m, "minute")),
        },
        _ => match s % 86_400 / 3600 {
            0 => unit(s / 86_400, "day"),
            h => format!("{} {}", unit(s / 86_400, "day"), unit(h, "hour")),
        },
    }
}

/// Text from outside (server replies, subjects) without control characters.
pub fn clean(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

/// Wraps a paragraph at `WIDTH` columns, each line starting with `indent`.
fn wrap(text: &str, indent: &str) -> String {
    let mut out = String::new();
    let mut line = String::from(indent);
    for word in text.split_whitespace() {
        if line.len() > indent.len() && line.len() + 1 + word.len() > WIDTH {
            out.push_str(&line);
            out.push('\n');
            line = String::from(indent);
        }
        if line.len() > indent.len() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if line.len() > indent.len() {
        out.push_str(&line);
        out.push('\n');
    }
    out
}
