//! The text form of an attempt's step record, appended to the message's `.steps` file and
//! shown by `qksmtp show ID`: a header line, then one line per step.

use crate::transcript::Record;

/// `--- attempt: direct 1 of 8 ---` then the steps, indented.
pub fn render(label: &str, record: &Record) -> String {
    let mut out = format!("--- attempt: {label} ---\n");
    for line in record.render().lines() {
        out.push_str("  ");
        out.push_str(line);
        out.push('\n');
    }
    out
}

/// An attempt's header: `direct 2 of 8 to a.test for b@a.test, c@a.test` (the label, where it
/// went, for whom).
pub fn header(label: &str, dest: &str, recipients: &[String]) -> String {
    format!("{label} to {dest} for {}", recipients.join(", "))
}

/// `header`'s parts: the label, the destination and the recipients; an older header (the
/// label alone) has neither.
pub fn parse_header(header: &str) -> (&str, Option<&str>, Vec<&str>) {
    let Some((label, rest)) = header.split_once(" to ") else {
        return (header, None, Vec::new());
    };
    match rest.split_once(" for ") {
        Some((dest, list)) if !dest.contains(' ') => {
            let recipients = list.split(", ").filter(|r| !r.is_empty()).collect();
            (label, Some(dest), recipients)
        }
        _ => (header, None, Vec::new()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::smtp::reply::{Enhanced, Reply};
    use crate::time::Timestamp;
    use crate::transcript::StepKind;
    use std::time::Duration;

    #[test]
    fn renders_every_step_with_its_reply() {
        let mut r = Record::new();
        let at = Timestamp::from_secs(1_795_419_420);
        r.push_ok(
            StepKind::Connect,
            at,
            Duration::from_millis(2),
            "127.0.0.1:25",
        );
        let refusal = Reply::new(550, Some(Enhanced::new(5, 1, 1)), "no such user");
        r.push(
            StepKind::Rcpt,
            at,
            Duration::from_millis(1),
            "RCPT TO:<x@y.test>",
            Some(refusal),
            false,
        );
        let text = render("direct 1 of 8", &r);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3);
        assert_eq!(lines[0], "--- attempt: direct 1 of 8 ---");
        assert!(
            lines[1].contains("CONNECT") && lines[1].contains("127.0.0.1:25"),
            "{text}"
        );
        assert!(
            lines[2].contains("RCPT TO:<x@y.test> -> 550 5.1.1 no such user"),
            "{text}"
        );
    }
}
