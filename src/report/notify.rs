//! Notices to senders written into the spool: read the original message (before it is
//! removed), render the notice (`bounce::render`), and hand it to the same intake as any mail, from the null sender `<>` to the original sender, as `kind bounce` (so it gets
//! `bounce_lifetime`, and when it fails nobody is told: no bounce loops).

use crate::bounce::{self, Notice, RenderContext};
use crate::intake::{Intake, Submission};
use crate::smtp::{Body, MailParams, ReversePath};
use crate::spool::envelope::{Envelope, MessageKind, Recipient};
use crate::time::Timestamp;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr};

#[derive(Debug)]
pub enum NotifyError {
    /// The message has the null sender: nobody to tell (the scheduler never asks for this).
    NullSender,
    /// The notice could not be stored.
    Commit(crate::intake::IntakeError),
}

impl fmt::Display for NotifyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NotifyError::NullSender => f.write_str("the message has no sender to notify (<>)"),
            NotifyError::Commit(e) => write!(f, "cannot store the notice: {e}"),
        }
    }
}

/// Writes the notice into the spool; returns its envelope for the scheduler.
pub fn commit(intake: &Intake, notice: &Notice, now: Timestamp) -> Result<Envelope, NotifyError> {
    let host = &intake.hostname();
    let spool = intake.spool();
    let ReversePath::Mailbox(to) = &notice.envelope.sender else {
        return Err(NotifyError::NullSender);
    };
    let original = spool.read_message(&notice.envelope.id).unwrap_or_else(|e| {
        log::warn!(
            "{}: cannot read the original for the notice ({e}); sending it without",
            notice.envelope.id
        );
        Vec::new()
    });
    let message_id = format!("{}.notice@{host}", spool.new_id());
    let ctx = RenderContext {
        host,
        message_id: &message_id,
        now,
    };
    let content = bounce::render(notice, &original, &ctx);
    let params = MailParams {
        body: if content.is_ascii() {
            Body::SevenBit
        } else {
            Body::EightBitMime
        },
        smtputf8: to.is_utf8(),
        ..MailParams::default()
    };
    let submission = Submission {
        sender: ReversePath::Null,
        params,
        recipients: vec![Recipient::new(to.clone(), None, None)],
        helo: host.to_string(),
        client_ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
        auth_user: None,
        local_user: None,
        protocol: "local".into(),
        tls: None,
        kind: MessageKind::Bounce,
    };
    intake
        .accept(submission, &content, now)
        .map_err(NotifyError::Commit)
}
