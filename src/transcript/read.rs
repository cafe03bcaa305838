//! The step record file (`ID.steps`, written by `transcript::text`) read back into
//! attempts and steps for the API and the detail page. Pure.

/// One attempt: its label (`direct 1 of 8`) and its steps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    pub label: String,
    pub steps: Vec<StepLine>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepLine {
    /// `2026-11-23 07:37:00Z`.
    pub at: String,
    pub ms: u64,
    pub ok: bool,
    /// `RCPT`, `DATA-DONE`...
    pub step: String,
    /// What was sent and the reply, e.g. `RCPT TO:<b@x.test> -> 550 5.1.1 no such user`.
    pub text: String,
}

/// Parses the record; a line that does not parse is kept whole as the text of a step.
pub fn parse(record: &str) -> Vec<Attempt> {
    let mut attempts: Vec<Attempt> = Vec::new();
    for line in record.lines() {
        if let Some(label) = line
            .strip_prefix("--- attempt: ")
            .and_then(|l| l.strip_suffix(" ---"))
        {
            attempts.push(Attempt {
                label: label.to_string(),
                steps: Vec::new(),
            });
            continue;
        }
        if line.trim().is_empty() {
            continue;
        }
        if attempts.is_empty() {
            attempts.push(Attempt {
                label: String::new(),
                steps: Vec::new(),
            });
        }
        let step = parse_step(line.trim_start()).unwrap_or_else(|| StepLine {
            at: String::new(),
            ms: 0,
            ok: true,
            step: String::new(),
            text: line.trim().to_string(),
        });
        attempts.last_mut().expect("one exists").steps.push(step);
    }
    attempts
}

/// `2026-11-23 07:37:01Z     12ms !RCPT      RCPT TO:<b@x.test> -> 550 ...`
fn parse_step(line: &str) -> Option<StepLine> {
    let at = line.get(..20)?;
    let rest = line.get(20..)?.trim_start();
    let (ms, rest) = rest.split_once("ms ")?;
    let ok = !rest.starts_with('!');
    let rest = rest.get(1..)?;
    let (step, text) = rest.split_once(' ').unwrap_or((rest, ""));
    Some(StepLine {
        at: at.to_string(),
        ms: ms.trim().parse().ok()?,
        ok,
        step: step.to_string(),
        text: text.trim_start().to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::smtp::reply::{Enhanced, Reply};
    use crate::time::Timestamp;
    use crate::transcript::{Record, StepKind};
    use std::time::Duration;

    #[test]
    fn reads_back_what_record_text_writes() {
        let mut r = Record::new();
        let at = Timestamp::from_secs(1_795_419_420);
        r.push_ok(
            StepKind::Connect,
            at,
            Duration::from_millis(2),
            "127.0.0.1:25",
        );
        let refusal = Reply::new(451, Some(Enhanced::new(4, 7, 1)), "try later");
        r.push(
            StepKind::DataDone,
            at,
            Duration::from_millis(1234),
            "12 bytes",
            Some(refusal),
            false,
        );
        let text = crate::transcript::text::render("direct 1 of 8", &r)
            + &crate::transcript::text::render("direct 2 of 8", &Record::new());
        let attempts = parse(&text);
        assert_eq!(attempts.len(), 2);
        assert_eq!(attempts[0].label, "direct 1 of 8");
        let s = &attempts[0].steps;
        assert_eq!((s[0].step.as_str(), s[0].ok, s[0].ms), ("CONNECT", true, 2));
        assert_eq!(s[0].text, "127.0.0.1:25");
        assert_eq!(s[0].at, "2026-11-23 07:37:00Z");
        assert_eq!(
            (s[1].step.as_str(), s[1].ok, s[1].ms),
            ("DATA-DONE", false, 1234)
        );
        assert_eq!(s[1].text, "12 bytes -> 451 4.7.1 try later");
        assert!(attempts[1].steps.is_empty());
    }
}
