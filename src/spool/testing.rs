//! What the spool's tests share: a one-recipient envelope to commit, scan and restore.

use super::envelope::{Envelope, MessageKind, Recipient};
use super::id::MessageId;
use crate::smtp::{Address, MailParams, ReversePath};
use crate::time::Timestamp;

/// Message `id` from a@example.test to b@example.test, 11 bytes, subject "s", arrived now.
pub fn envelope(id: MessageId) -> Envelope {
    Envelope {
        id,
        arrival: Timestamp::now(),
        sender: ReversePath::Mailbox(Address::new("a", "example.test")),
        client_ip: "127.0.0.1".parse().unwrap(),
        helo: "client.test".into(),
        auth_user: None,
        local_user: None,
        size: 11,
        params: MailParams::default(),
        recipients: vec![Recipient::new(
            Address::new("b", "example.test"),
            None,
            None,
        )],
        held: false,
        kind: MessageKind::Mail,
        subject: Some("s".into()),
    }
}
