//! A recipient's attempts in order, each in one line (pure): when, which attempt and where,
//! and what happened to this recipient there (its refused RCPT, the failure that stopped the
//! attempt, or the server's acceptance). The message page shows one timeline per recipient.

use crate::time::Timestamp;
use crate::transcript::StepKind;
use crate::transcript::read::{Attempt, Entry};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mark {
    /// When the attempt started.
    pub at: Option<Timestamp>,
    /// `direct attempt 2 of 8 · 127.0.0.1:25 (mx.a.test)`.
    pub title: String,
    pub ok: bool,
    /// The step that decided it: `RCPT TO:<b@x.test> -> 550 5.1.1 no such user`.
    pub text: String,
}

/// The attempts that were for `recipient` (all of them when the record does not say whom
/// an attempt was for).
pub fn of(attempts: &[Attempt], recipient: &str) -> Vec<Mark> {
    attempts
        .iter()
        .filter(|a| {
            let rs = a.recipients();
            rs.is_empty() || rs.iter().any(|r| r.eq_ignore_ascii_case(recipient))
        })
        .map(|a| mark(a, recipient))
        .collect()
}

fn mark(a: &Attempt, recipient: &str) -> Mark {
    let steps = || {
        a.entries.iter().filter_map(|e| match e {
            Entry::Step(s) => Some(s),
            Entry::Unread(_) => None,
        })
    };
    let mine = format!("<{}>", recipient.to_ascii_lowercase());
    let other_rcpt = |i: usize| match &a.entries[i] {
        Entry::Step(s) => {
            s.kind == StepKind::Rcpt && !s.detail.to_ascii_lowercase().contains(&mine)
        }
        Entry::Unread(_) => false,
    };
    let decided = a.failing().into_iter().find(|&i| !other_rcpt(i));
    let (ok, text) = match decided {
        Some(i) => (false, entry_text(&a.entries[i])),
        None => {
            let done = steps().rfind(|s| s.kind == StepKind::DataDone);
            let last = steps().next_back();
            let text = done.or(last).map(|s| s.text().trim().to_string());
            (
                done.is_some_and(|s| s.ok),
                text.unwrap_or_else(|| "nothing recorded".into()),
            )
        }
    };
    let mut title = match a.label.split_once(' ') {
        Some((how, n)) => format!("{how} attempt {n}"),
        None => a.label.clone(),
    };
    if let Some(host) = a.host() {
        title = format!("{title} · {host}");
    }
    Mark {
        at: steps().next().map(|s| s.at),
        title,
        ok,
        text,
    }
}

fn entry_text(e: &Entry) -> String {
    match e {
        Entry::Step(s) => s.text().trim().to_string(),
        Entry::Unread(line) => line.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transcript::read::parse;

    const RECORD: &str = "--- attempt: direct 1 of 8 to y.test for b@y.test, c@y.test ---\n\
        \x20 2026-11-23 07:37:00Z      3ms  CONNECT   127.0.0.1:25 (mx.y.test)\n\
        \x20 2026-11-23 07:37:00Z      1ms !RCPT      RCPT TO:<b@y.test> -> 451 4.7.1 later\n\
        \x20 2026-11-23 07:37:00Z      1ms  RCPT      RCPT TO:<C@y.test> -> 250 2.1.5 ok\n\
        \x20 2026-11-23 07:37:01Z      1ms  DATA-DONE message -> 250 2.0.0 queued as 7\n\
        --- attempt: direct 2 of 8 to y.test for b@y.test ---\n\
        \x20 2026-11-23 07:52:00Z      3ms !CONNECT   127.0.0.1:25 (mx.y.test): connection refused\n\
        --- attempt: direct 3 of 8 to y.test for b@y.test ---\n\
        \x20 2026-11-23 08:22:00Z      3ms  CONNECT   127.0.0.1:25 (mx.y.test)\n\
        \x20 2026-11-23 08:22:00Z      1ms  RCPT      RCPT TO:<b@y.test> -> 250 2.1.5 ok\n\
        \x20 2026-11-23 08:22:01Z      1ms  DATA-DONE message -> 250 2.0.0 queued as 9\n";

    #[test]
    fn each_recipient_sees_its_own_attempts_and_outcomes() {
        let attempts = parse(RECORD);
        let line = |m: &Mark| (m.at.map(|t| t.iso()), m.ok, m.text.clone());
        let b: Vec<_> = of(&attempts, "b@y.test").iter().map(line).collect();
        let t = |s: &str| Some(format!("2026-11-23 {s}Z"));
        assert_eq!(
            b,
            [
                (
                    t("07:37:00"),
                    false,
                    "RCPT TO:<b@y.test> -> 451 4.7.1 later".into()
                ),
                (
                    t("07:52:00"),
                    false,
                    "127.0.0.1:25 (mx.y.test): connection refused".into()
                ),
                (
                    t("08:22:00"),
                    true,
                    "message -> 250 2.0.0 queued as 9".into()
                ),
            ]
        );
        let c: Vec<_> = of(&attempts, "c@Y.test").iter().map(line).collect();
        assert_eq!(
            c,
            [(
                t("07:37:00"),
                true,
                "message -> 250 2.0.0 queued as 7".into()
            )]
        );
        assert_eq!(
            of(&attempts, "b@y.test")[0].title,
            "direct attempt 1 of 8 · 127.0.0.1:25 (mx.y.test)"
        );
        assert!(of(&attempts, "nobody@y.test").is_empty());
    }
}
