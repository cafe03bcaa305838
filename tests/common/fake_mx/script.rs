//! The fake MX's script: at which step of the dialogue it answers otherwise than a
//! well-behaved server would, and how (drop, stall, an odd reply, a reply after N recipients,
//! only in the first sessions).

use std::ops::Range;
use std::time::Duration;

/// A point in the dialogue where a rule can take over.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// The connection has been accepted; the greeting is due.
    Greeting,
    /// EHLO or HELO.
    Ehlo,
    Mail,
    /// RCPT; counted per transaction (`Rule::from(4)`: the 4th RCPT of a message and later).
    Rcpt,
    /// The DATA command (before its 354).
    Data,
    /// The message is in and recorded as delivered; its final reply is due.
    DataDone,
    StartTls,
    Quit,
    /// The client has sent nothing for `Options::idle` (a parked connection).
    Idle,
}

impl Step {
    const ALL: usize = 9;

    /// The step a command line is, by its verb (None: not scriptable).
    pub(super) fn of_verb(verb: &str) -> Option<Step> {
        Some(match verb {
            "EHLO" | "HELO" => Step::Ehlo,
            "MAIL" => Step::Mail,
            "RCPT" => Step::Rcpt,
            "DATA" => Step::Data,
            "STARTTLS" => Step::StartTls,
            "QUIT" => Step::Quit,
            _ => return None,
        })
    }
}

/// What the fake does at a step instead of its usual answer.
#[derive(Clone, Debug)]
pub enum Act {
    /// Sends this text and a CRLF (several lines joined by "\r\n"; it need not be SMTP), then
    /// goes on as if the command had not happened.
    Reply(String),
    /// Sends this text and a CRLF, then closes the connection.
    ReplyClose(String),
    /// Waits this long, then answers as usual (a slow or stalling server).
    Delay(Duration),
    /// Never answers: reads (and drops) whatever comes until the client closes.
    Silent,
    /// Closes the connection without a word.
    Close,
}

/// One line of a script: at `step`, in the sessions `sessions`, from its `from`th time on,
/// do `act`. The first rule of the script that applies wins.
#[derive(Clone, Debug)]
pub struct Rule {
    pub step: Step,
    pub act: Act,
    /// The sessions it applies to, by number (0 is the first connection); all by default.
    pub sessions: Range<usize>,
    /// The first time it applies (1-based; per session, RCPT per transaction); 1 by default.
    pub from: usize,
}

impl Rule {
    pub fn new(step: Step, act: Act) -> Rule {
        Rule {
            step,
            act,
            sessions: 0..usize::MAX,
            from: 1,
        }
    }

    /// Only in these sessions (e.g. `0..2`: a server that throttles the first two).
    pub fn sessions(self, sessions: Range<usize>) -> Rule {
        Rule { sessions, ..self }
    }

    /// Only from the `nth` time of the step on (e.g. `Step::Rcpt` from 4: after 3 recipients).
    pub fn from(self, nth: usize) -> Rule {
        Rule { from: nth, ..self }
    }
}

/// How often each step has come in one session, and what the script says about the next.
#[derive(Default)]
pub(super) struct Counts([usize; Step::ALL]);

impl Counts {
    /// Counts one more `step` in session `session`; returns the act of the first rule of
    /// `script` that applies to it.
    pub(super) fn next(&mut self, script: &[Rule], session: usize, step: Step) -> Option<Act> {
        let n = &mut self.0[step as usize];
        *n += 1;
        let nth = *n;
        script
            .iter()
            .find(|r| r.step == step && r.sessions.contains(&session) && nth >= r.from)
            .map(|r| r.act.clone())
    }

    /// A new transaction: RCPTs are counted from 1 again.
    pub(super) fn new_transaction(&mut self) {
        self.0[Step::Rcpt as usize] = 0;
    }
}
