//! The transcript of a delivery attempt, owned in one place: the step record (DNS, connect,
//! greeting, EHLO, STARTTLS, AUTH, MAIL, RCPT, DATA, final reply; timings and the server's exact
//! replies) and the failure type of the client, its text form (`text`) and that text read back
//! (`read`), and how the connection travelled (`tls`). This is what the status page, the
//! delivery log and the bounces show.

pub mod read;
pub mod text;
pub mod tls;

use crate::smtp::reply::Reply;
use crate::time::Timestamp;
use std::fmt;
use std::time::Duration;

/// One step of a delivery attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StepKind {
    Dns,
    Connect,
    Greeting,
    Ehlo,
    Helo,
    StartTls,
    Auth,
    Mail,
    Rcpt,
    /// The DATA command and its 354.
    Data,
    /// The message data and the reply after the final dot.
    DataDone,
    Rset,
    Quit,
    /// Not a step of the conversation: the DKIM signing at intake, recorded when the message
    /// goes unsigned (`not signed: no DKIM key for example.test`).
    Dkim,
}

impl StepKind {
    pub const ALL: [StepKind; 14] = [
        StepKind::Dns,
        StepKind::Connect,
        StepKind::Greeting,
        StepKind::Ehlo,
        StepKind::Helo,
        StepKind::StartTls,
        StepKind::Auth,
        StepKind::Mail,
        StepKind::Rcpt,
        StepKind::Data,
        StepKind::DataDone,
        StepKind::Rset,
        StepKind::Quit,
        StepKind::Dkim,
    ];

    /// The kind `name` names (`RCPT`, `DATA-DONE`), as the text form writes it.
    pub fn from_name(name: &str) -> Option<StepKind> {
        StepKind::ALL.into_iter().find(|k| k.name() == name)
    }

    /// A short upper-case name for listings: `RCPT`, `DATA-DONE`.
    pub fn name(self) -> &'static str {
        match self {
            StepKind::Dns => "DNS",
            StepKind::Connect => "CONNECT",
            StepKind::Greeting => "GREETING",
            StepKind::Ehlo => "EHLO",
            StepKind::Helo => "HELO",
            StepKind::StartTls => "STARTTLS",
            StepKind::Auth => "AUTH",
            StepKind::Mail => "MAIL",
            StepKind::Rcpt => "RCPT",
            StepKind::Data => "DATA",
            StepKind::DataDone => "DATA-DONE",
            StepKind::Rset => "RSET",
            StepKind::Quit => "QUIT",
            StepKind::Dkim => "DKIM",
        }
    }

    /// Plain words for people: "sending the message data".
    pub fn describe(self) -> &'static str {
        match self {
            StepKind::Dns => "looking up the mail servers (DNS)",
            StepKind::Connect => "connecting",
            StepKind::Greeting => "waiting for the server's greeting",
            StepKind::Ehlo => "introducing ourselves (EHLO)",
            StepKind::Helo => "introducing ourselves (HELO)",
            StepKind::StartTls => "starting encryption (STARTTLS)",
            StepKind::Auth => "logging in (AUTH)",
            StepKind::Mail => "giving the sender (MAIL FROM)",
            StepKind::Rcpt => "giving a recipient (RCPT TO)",
            StepKind::Data => "starting the message (DATA)",
            StepKind::DataDone => "sending the message data",
            StepKind::Rset => "resetting the transaction (RSET)",
            StepKind::Quit => "saying goodbye (QUIT)",
            StepKind::Dkim => "signing the message (DKIM)",
        }
    }
}

impl fmt::Display for StepKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What happened in one step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub kind: StepKind,
    /// When the step started.
    pub at: Timestamp,
    pub took: Duration,
    /// What was done, e.g. `192.0.2.1:25`, `RCPT TO:<b@x.test>`, `AUTH PLAIN ****`,
    /// `STARTTLS: TLS 1.3, certificate not verified`. Never a password or an AUTH payload.
    pub detail: String,
    /// The server's reply, exactly, when there was one (or a reply we made up, e.g. SIZE).
    pub reply: Option<Reply>,
    pub ok: bool,
}

impl Step {
    /// What was done and the reply: `RCPT TO:<b@x.test> -> 550 5.1.1 no such user`.
    pub fn text(&self) -> String {
        match &self.reply {
            Some(reply) => format!("{} -> {}", self.detail, reply.one_line()),
            None => self.detail.clone(),
        }
    }
}

impl fmt::Display for Step {
    /// `2026-11-23 07:37:00Z   12ms RCPT      RCPT TO:<b@x.test> -> 550 5.1.1 no such user`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mark = if self.ok { ' ' } else { '!' };
        write!(
            f,
            "{} {:>6}ms {mark}{:<9} {}",
            self.at.iso(),
            self.took.as_millis(),
            self.kind.name(),
            self.text()
        )
    }
}

/// The steps of one delivery attempt, in order.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Record {
    pub steps: Vec<Step>,
}

impl Record {
    pub fn new() -> Record {
        Record::default()
    }

    pub fn push(
        &mut self,
        kind: StepKind,
        at: Timestamp,
        took: Duration,
        detail: impl Into<String>,
        reply: Option<Reply>,
        ok: bool,
    ) {
        self.steps.push(Step {
            kind,
            at,
            took,
            detail: detail.into(),
            reply,
            ok,
        });
    }

    /// A step that succeeded without a reply (a DNS answer, a connect).
    pub fn push_ok(&mut self, kind: StepKind, at: Timestamp, took: Duration, detail: &str) {
        self.push(kind, at, took, detail, None, true);
    }

    /// A step that failed without a reply, e.g. `Dns` with `SERVFAIL`.
    pub fn push_failed(&mut self, kind: StepKind, at: Timestamp, took: Duration, detail: &str) {
        self.push(kind, at, took, detail, None, false);
    }

    #[cfg(test)]
    /// The last step that did not go well, if any.
    pub fn last_failed(&self) -> Option<&Step> {
        self.steps.iter().rev().find(|s| !s.ok)
    }

    /// One line per step (see `Step`'s Display), for `qksmtp queue ID` and the logs.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for step in &self.steps {
            out.push_str(&step.to_string());
            out.push('\n');
        }
        out
    }
}

/// Why a step failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FailureKind {
    /// No answer in time (the step's timeout).
    Timeout,
    /// The server refused the TCP connection.
    ConnectRefused,
    /// The server dropped the connection.
    Closed,
    /// Another network error, as the system says it.
    Io(String),
    /// The TLS handshake failed (or a certificate was refused).
    Tls(String),
    /// An unexpected reply (also the synthetic replies for SIZE and SMTPUTF8 refusals).
    Reply(Reply),
    /// A garbage reply, a STARTTLS injection, or EHLO lacking a feature we need.
    Protocol(String),
}

impl fmt::Display for FailureKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FailureKind::Timeout => f.write_str("timed out"),
            FailureKind::ConnectRefused => f.write_str("connection refused"),
            FailureKind::Closed => f.write_str("the server closed the connection"),
            FailureKind::Io(e) => write!(f, "network error: {e}"),
            FailureKind::Tls(e) => write!(f, "TLS failed: {e}"),
            FailureKind::Reply(r) => write!(f, "the server replied {}", r.one_line()),
            FailureKind::Protocol(e) => write!(f, "protocol error: {e}"),
        }
    }
}

/// A failed attempt: the step where it failed and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub step: StepKind,
    pub kind: FailureKind,
}

impl Failure {
    pub fn new(step: StepKind, kind: FailureKind) -> Failure {
        Failure { step, kind }
    }

    #[cfg(test)]
    /// The reply behind the failure, when the server (or a synthetic check) gave one.
    pub fn reply(&self) -> Option<&Reply> {
        match &self.kind {
            FailureKind::Reply(r) => Some(r),
            _ => None,
        }
    }
}

impl fmt::Display for Failure {
    /// `RCPT (giving a recipient (RCPT TO)): the server replied 550 5.1.1 no such user`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({}): {}", self.step, self.step.describe(), self.kind)
    }
}

impl std::error::Error for Failure {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::smtp::reply::Enhanced;

    #[test]
    fn renders_steps_and_failures() {
        let mut record = Record::new();
        record.push_ok(
            StepKind::Connect,
            Timestamp::from_secs(1_795_419_420),
            Duration::from_millis(3),
            "127.0.0.1:25",
        );
        let refusal = Reply::new(550, Some(Enhanced::new(5, 1, 1)), "no such user");
        record.push(
            StepKind::Rcpt,
            Timestamp::from_secs(1_795_419_421),
            Duration::from_millis(12),
            "RCPT TO:<b@x.test>",
            Some(refusal.clone()),
            false,
        );
        assert_eq!(
            record.render(),
            "2026-11-23 07:37:00Z      3ms  CONNECT   127.0.0.1:25\n\
             2026-11-23 07:37:01Z     12ms !RCPT      RCPT TO:<b@x.test> -> 550 5.1.1 no such user\n"
        );
        assert_eq!(record.last_failed().unwrap().kind, StepKind::Rcpt);
        for kind in StepKind::ALL {
            assert_eq!(StepKind::from_name(kind.name()), Some(kind));
        }
        assert_eq!(StepKind::from_name("rcpt"), None);
        let failure = Failure::new(StepKind::Rcpt, FailureKind::Reply(refusal.clone()));
        assert_eq!(failure.reply(), Some(&refusal));
        assert_eq!(
            failure.to_string(),
            "RCPT (giving a recipient (RCPT TO)): the server replied 550 5.1.1 no such user"
        );
        assert_eq!(
            Failure::new(StepKind::Greeting, FailureKind::Timeout).to_string(),
            "GREETING (waiting for the server's greeting): timed out"
        );
    }
}
