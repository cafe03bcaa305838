//! The step record file (`ID.steps`, written by `transcript::text`) read back into typed
//! attempts and steps for the API and the detail page. Pure.
//!
//! The text keeps what people read, so reading it back gives the steps the record held with
//! the time in whole seconds, the duration in whole milliseconds, and a multi-line reply as
//! one line (its lines joined, as `Reply::one_line` writes them).

use super::{Step, StepKind, text};
use crate::smtp::reply::Reply;
use crate::time::Timestamp;
use std::time::Duration;

/// One attempt: its label (`direct 1 of 8`), where it went and for whom (when the header
/// says: `text::header` writes them), and what was recorded of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    pub label: String,
    /// `a.test` or `relay:NAME`.
    pub dest: Option<String>,
    pub recipients: Vec<String>,
    pub entries: Vec<Entry>,
}

/// The detail of the step a reused connection starts with (the worker writes it).
const REUSED: &str = "reusing the open connection to ";

impl Attempt {
    fn new(header: &str) -> Attempt {
        let (label, dest, recipients) = text::parse_header(header);
        Attempt {
            label: label.to_string(),
            dest: dest.map(str::to_string),
            recipients: recipients.into_iter().map(str::to_string).collect(),
            entries: Vec::new(),
        }
    }

    /// The server it talked to (or tried): `127.0.0.1:25 (mx.a.test)`, from the last
    /// CONNECT step.
    pub fn host(&self) -> Option<String> {
        let connect = self.steps().rev().find(|s| s.kind == StepKind::Connect)?;
        let detail = connect.detail.as_str();
        Some(match detail.strip_prefix(REUSED) {
            Some(rest) => rest
                .rsplit_once(" (message ")
                .map_or(rest, |(r, _)| r)
                .into(),
            None if connect.ok => detail.into(),
            None => detail.rsplit_once(": ").map_or(detail, |(d, _)| d).into(),
        })
    }

    /// The recipients tried: those the header names, else the RCPT steps'.
    pub fn recipients(&self) -> Vec<String> {
        if !self.recipients.is_empty() {
            return self.recipients.clone();
        }
        self.steps()
            .filter(|s| s.kind == StepKind::Rcpt)
            .filter_map(|s| {
                let rest = s.detail.strip_prefix("RCPT TO:<")?;
                Some(rest.split_once('>')?.0.to_string())
            })
            .collect()
    }

    /// The entries that tell why the attempt did not go well: every refused RCPT, and the
    /// last failed step unless it is only their consequence (a pipelined DATA the server
    /// refused because no recipient was accepted). Empty when nothing failed.
    pub fn failing(&self) -> Vec<usize> {
        let step = |i: usize| match &self.entries[i] {
            Entry::Step(s) => Some(s),
            Entry::Unread(_) => None,
        };
        let rcpt = |i: usize| step(i).is_some_and(|s| s.kind == StepKind::Rcpt);
        let mut out: Vec<usize> = (0..self.entries.len())
            .filter(|&i| rcpt(i) && !self.entries[i].ok())
            .collect();
        let any_accepted = (0..self.entries.len()).any(|i| rcpt(i) && self.entries[i].ok());
        if let Some(last) = self.entries.iter().rposition(|e| !e.ok()) {
            let after_data =
                step(last).is_some_and(|s| matches!(s.kind, StepKind::Data | StepKind::DataDone));
            let consequence = after_data && !out.is_empty() && !any_accepted;
            if !consequence && !out.contains(&last) {
                out.push(last);
            }
        }
        out
    }

    fn steps(&self) -> impl DoubleEndedIterator<Item = &Step> {
        self.entries.iter().filter_map(|e| match e {
            Entry::Step(s) => Some(s),
            Entry::Unread(_) => None,
        })
    }
}

/// One line of an attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    Step(Step),
    /// A line that is not a step (damaged, or written by another version), kept whole.
    Unread(String),
}

impl Entry {
    /// False for a step that did not go well.
    pub fn ok(&self) -> bool {
        match self {
            Entry::Step(step) => step.ok,
            Entry::Unread(_) => true,
        }
    }
}

/// Parses the record; a line that does not parse is kept whole as an `Unread` entry. An
/// attempt on a reused connection starts at its "reusing the open connection" step (the
/// record repeats the connection's first steps before it).
pub fn parse(record: &str) -> Vec<Attempt> {
    let mut attempts: Vec<Attempt> = Vec::new();
    for line in record.lines() {
        if let Some(header) = line
            .strip_prefix("--- attempt: ")
            .and_then(|l| l.strip_suffix(" ---"))
        {
            attempts.push(Attempt::new(header));
            continue;
        }
        if line.trim().is_empty() {
            continue;
        }
        if attempts.is_empty() {
            attempts.push(Attempt::new(""));
        }
        let entry = match parse_step(line.trim_start()) {
            Some(step) => Entry::Step(step),
            None => Entry::Unread(line.trim().to_string()),
        };
        let attempt = attempts.last_mut().expect("one exists");
        if let Entry::Step(s) = &entry
            && s.kind == StepKind::Connect
            && s.detail.starts_with(REUSED)
        {
            attempt.entries.clear();
        }
        attempt.entries.push(entry);
    }
    attempts
}

/// `2026-11-23 07:37:01Z     12ms !RCPT      RCPT TO:<b@x.test> -> 550 ...`
fn parse_step(line: &str) -> Option<Step> {
    let at = Timestamp::parse_iso(line.get(..20)?)?;
    let rest = line.get(20..)?.trim_start();
    let (ms, rest) = rest.split_once("ms ")?;
    let took = Duration::from_millis(ms.trim().parse().ok()?);
    let ok = match rest.as_bytes().first()? {
        b' ' => true,
        b'!' => false,
        _ => return None,
    };
    let rest = &rest[1..];
    let name_end = rest.find(' ').unwrap_or(rest.len());
    let kind = StepKind::from_name(&rest[..name_end])?;
    // The name is padded to 9 columns, then one space, then the text as it was.
    let after = &rest[name_end..];
    let pad = (name_end.max(9) + 1 - name_end).min(after.len());
    if !after.bytes().take(pad).all(|b| b == b' ') {
        return None;
    }
    let (detail, reply) = split_reply(&after[pad..]);
    Some(Step {
        kind,
        at,
        took,
        detail: detail.to_string(),
        reply,
        ok,
    })
}

/// `detail -> 550 5.1.1 text` into the detail and the reply: at the first ` -> ` that a reply
/// follows; the whole text is the detail when none does.
fn split_reply(text: &str) -> (&str, Option<Reply>) {
    let mut from = 0;
    while let Some(pos) = text[from..].find(" -> ").map(|p| p + from) {
        if let Some(reply) = Reply::from_one_line(&text[pos + 4..]) {
            return (&text[..pos], Some(reply));
        }
        from = pos + 1;
    }
    (text, None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::smtp::reply::Enhanced;
    use crate::transcript::{Record, text};

    fn step(kind: StepKind, ms: u64, detail: &str, reply: Option<Reply>, ok: bool) -> Step {
        Step {
            kind,
            at: Timestamp::from_secs(1_795_419_420 + ms),
            took: Duration::from_millis(ms),
            detail: detail.into(),
            reply,
            ok,
        }
    }

    /// A record with every kind of step, replies and none, in the shapes the client writes.
    fn record() -> Record {
        let e = |c, s, d| Some(Enhanced::new(c, s, d));
        let steps = vec![
            step(StepKind::Dns, 0, "MX a.test: mx.a.test (10)", None, true),
            step(StepKind::Connect, 3, "192.0.2.1:25 (mx.a.test)", None, true),
            step(
                StepKind::Greeting,
                1,
                "greeting",
                Some(Reply::new(220, None, "mx.a.test ESMTP")),
                true,
            ),
            step(
                StepKind::Ehlo,
                2,
                "EHLO client.test",
                Some(Reply::new(250, None, "mx.a.test PIPELINING SIZE 1000")),
                true,
            ),
            step(
                StepKind::StartTls,
                0,
                "not offered by the server",
                None,
                true,
            ),
            step(
                StepKind::Auth,
                5,
                "AUTH PLAIN ****",
                Some(Reply::new(535, e(5, 7, 8), "bad -> credentials")),
                false,
            ),
            step(
                StepKind::Mail,
                12,
                "MAIL FROM:<a@x.test> SIZE=18",
                Some(Reply::new(250, e(2, 1, 0), "Ok")),
                true,
            ),
            step(
                StepKind::Rcpt,
                1234,
                "RCPT TO:<b@y.test> [pipelined, 3 commands]",
                Some(Reply::new(550, e(5, 1, 1), "no such user")),
                false,
            ),
            step(
                StepKind::Data,
                7,
                "DATA",
                Some(Reply::new(354, None, "go")),
                true,
            ),
            step(
                StepKind::DataDone,
                600_000,
                "18 bytes: timed out",
                None,
                false,
            ),
            step(
                StepKind::Rset,
                0,
                "RSET",
                Some(Reply::new(250, None, "")),
                true,
            ),
            step(StepKind::Helo, 0, "HELO a -> b", None, true),
            step(
                StepKind::Quit,
                0,
                "",
                Some(Reply::new(221, e(2, 0, 0), "")),
                true,
            ),
        ];
        Record { steps }
    }

    #[test]
    fn reads_back_the_steps_the_record_held() {
        let held = record();
        let text =
            text::render("direct 1 of 8", &held) + &text::render("relay 1 of 2", &Record::new());
        let attempts = parse(&text);
        assert_eq!(attempts.len(), 2);
        assert_eq!(attempts[0].label, "direct 1 of 8");
        let read: Vec<Entry> = held.steps.into_iter().map(Entry::Step).collect();
        assert_eq!(attempts[0].entries, read);
        assert_eq!(attempts[1].label, "relay 1 of 2");
        assert!(attempts[1].entries.is_empty());
    }

    #[test]
    fn what_the_text_loses() {
        let mut held = Record::new();
        let multi = Reply::ehlo("mx.test", "c.test", &["PIPELINING".into()]);
        let at = Timestamp(1_795_419_420_123_456);
        held.push(
            StepKind::Ehlo,
            at,
            Duration::from_micros(1999),
            "EHLO c.test",
            Some(multi.clone()),
            true,
        );
        let attempts = parse(&text::render("direct 1 of 1", &held));
        let Entry::Step(read) = &attempts[0].entries[0] else {
            panic!("not a step: {attempts:?}")
        };
        assert_eq!(read.at, Timestamp::from_secs(1_795_419_420));
        assert_eq!(read.took, Duration::from_millis(1));
        assert_eq!(
            read.reply.as_ref().map(Reply::one_line),
            Some(multi.one_line())
        );
        assert_eq!(read.text(), held.steps[0].text());
    }

    #[test]
    fn lines_that_are_not_steps_are_kept_whole() {
        let text = "  stray line\n--- attempt: direct 1 of 1 ---\n  2026-11-23 07:37:00Z   2ms  NOPE  x\n\n  2026-13-23 07:37:00Z   2ms  RCPT  x\n  2026-11-23 07:37:00Z   2ms ?RCPT  x\n";
        let attempts = parse(text);
        let unread = |s: &str| Entry::Unread(s.into());
        assert_eq!(attempts.len(), 2);
        assert_eq!(attempts[0].label, "");
        assert_eq!(attempts[0].entries, vec![unread("stray line")]);
        assert_eq!(
            attempts[1].entries,
            vec![
                unread("2026-11-23 07:37:00Z   2ms  NOPE  x"),
                unread("2026-13-23 07:37:00Z   2ms  RCPT  x"),
                unread("2026-11-23 07:37:00Z   2ms ?RCPT  x"),
            ]
        );
        assert!(attempts[1].entries.iter().all(Entry::ok));
    }

    const CONNECT: &str = "  2026-11-23 07:37:00Z      2ms  CONNECT   127.0.0.1:25 (mx.y.test)\n";
    const GREETING: &str = "  2026-11-23 07:37:00Z      1ms  GREETING  greeting -> 220 mx.y.test\n";

    /// Which rows tell why an attempt did not go well.
    #[test]
    fn the_failing_steps_are_the_cause_not_its_consequence() {
        let rcpt = |addr: &str, reply: &str| {
            let mark = if reply.starts_with('2') { ' ' } else { '!' };
            format!("  2026-11-23 07:37:00Z      1ms {mark}RCPT      RCPT TO:<{addr}> -> {reply}\n")
        };
        let data_554 =
            "  2026-11-23 07:37:00Z      1ms !DATA      DATA -> 554 5.5.1 no valid recipients\n";
        let done_451 = "  2026-11-23 07:37:00Z      1ms !DATA-DONE 9 bytes -> 451 4.3.0 later\n";
        let done_250 = "  2026-11-23 07:37:00Z      1ms  DATA-DONE 9 bytes -> 250 2.0.0 ok\n";
        let cases: [(String, Vec<usize>); 5] = [
            // Pipelined: the one RCPT deferred, so DATA was refused: the RCPT is the cause.
            (
                format!("{CONNECT}{}{data_554}", rcpt("b@y.test", "451 4.7.1 later")),
                vec![1],
            ),
            // Two refused: both are shown.
            (
                format!(
                    "{CONNECT}{}{}{data_554}",
                    rcpt("b@y.test", "550 5.1.1 no"),
                    rcpt("c@y.test", "451 4.7.1 later")
                ),
                vec![1, 2],
            ),
            // One refused, one accepted, then the data refused: both causes.
            (
                format!(
                    "{CONNECT}{}{}{done_451}",
                    rcpt("b@y.test", "550 5.1.1 no"),
                    rcpt("c@y.test", "250 2.1.5 ok")
                ),
                vec![1, 3],
            ),
            (
                format!("{CONNECT}{}{done_250}", rcpt("b@y.test", "250 2.1.5 ok")),
                vec![],
            ),
            (
                "  2026-11-23 07:37:00Z      1ms !CONNECT   127.0.0.1:25: connection refused\n"
                    .into(),
                vec![0],
            ),
        ];
        for (steps, want) in cases {
            let text = format!("--- attempt: direct 1 of 3 ---\n{steps}");
            assert_eq!(parse(&text)[0].failing(), want, "{text}");
        }
    }

    #[test]
    fn an_attempt_names_its_destination_server_and_recipients() {
        let header = text::header(
            "direct 2 of 3",
            "y.test",
            &["b@y.test".into(), "c@y.test".into()],
        );
        let reuse = "  2026-11-23 07:38:00Z      0ms  CONNECT   reusing the open connection to 127.0.0.1:25 (mx.y.test) (message 2 on it)\n";
        let rcpt = "  2026-11-23 07:38:00Z      1ms  RCPT      RCPT TO:<b@y.test> NOTIFY=NEVER -> 250 ok\n";
        let record = format!("--- attempt: {header} ---\n{CONNECT}{GREETING}{reuse}{rcpt}");
        let a = &parse(&record)[0];
        assert_eq!(a.label, "direct 2 of 3");
        assert_eq!(a.dest.as_deref(), Some("y.test"));
        assert_eq!(a.recipients(), ["b@y.test", "c@y.test"]);
        assert_eq!(a.host().as_deref(), Some("127.0.0.1:25 (mx.y.test)"));
        assert_eq!(a.entries.len(), 2, "a reused connection is one line: {a:?}");
        // An older header: the label alone; the recipients come from the RCPT steps.
        let old = parse(&format!("--- attempt: relay 1 of 2 ---\n{CONNECT}{rcpt}"));
        assert_eq!(
            (old[0].label.as_str(), old[0].dest.as_deref()),
            ("relay 1 of 2", None)
        );
        assert_eq!(old[0].recipients(), ["b@y.test"]);
        let refused = parse(
            "  2026-11-23 07:37:00Z      1ms !CONNECT   [::1]:25 (mx.y.test): connection refused\n",
        );
        assert_eq!(refused[0].host().as_deref(), Some("[::1]:25 (mx.y.test)"));
    }
}
