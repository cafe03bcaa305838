//! One mail transaction over an open `Client`: MAIL, every RCPT, DATA (pipelined in one write
//! when the server offers PIPELINING, else one command at a time), the dot-stuffed data in
//! blocks, the final reply, and RSET after a transaction that did not go through.

use super::command;
use super::{
    Client, Failure, FailureKind, OutgoingMessage, Record, StepKind, Timer, TransactionResult,
};
use crate::smtp::reply::Reply;
use std::time::Duration;

/// Message data is written in blocks of this size, each within the `data_block` timeout.
const BLOCK: usize = 64 * 1024;
/// Most commands in one pipelined write; more recipients go in further groups, so neither
/// side can fill its send buffer while the other waits (RFC 2920 §3.1 deadlock).
const PIPELINE_GROUP: usize = 100;
/// Why a message's data was not ended (see `halt`).
const STOPPING: &str = "the data was not ended: this server is stopping";

/// The replies of the envelope phase.
struct Envelope {
    mail: Reply,
    rcpts: Vec<Reply>,
    /// `None` when DATA was not sent.
    data: Option<Reply>,
}

fn accepted(reply: &Reply) -> bool {
    reply.code / 100 == 2
}

impl Client {
    /// Sends one message to its recipients. Recipient refusals are results, not failures: the
    /// `Err` cases are MAIL refused (or refused before sending: SIZE, SMTPUTF8), DATA refused,
    /// and a broken connection (timeout, drop, garbage), each with the step where it happened.
    /// After a refused transaction RSET is sent, so the client can take the next message when
    /// `is_usable()` is still true.
    pub fn send(
        &mut self,
        msg: &OutgoingMessage,
        record: &mut Record,
    ) -> Result<TransactionResult, Failure> {
        if !self.usable {
            let why = FailureKind::Io("the connection can no longer be used".into());
            return Err(Failure::new(StepKind::Mail, why));
        }
        let mail = match command::mail_command(msg, &self.ext) {
            Ok(line) => line,
            Err(reply) => {
                let t = Timer::start();
                let detail = format!("MAIL FROM:{} not sent", msg.sender);
                record.push(
                    StepKind::Mail,
                    t.at,
                    t.took(),
                    detail,
                    Some(reply.clone()),
                    false,
                );
                return Err(Failure::new(StepKind::Mail, FailureKind::Reply(reply)));
            }
        };
        if msg.recipients.is_empty() {
            return Ok(TransactionResult {
                recipients: Vec::new(),
                data: None,
            });
        }
        let rcpts: Vec<String> = msg
            .recipients
            .iter()
            .map(|r| command::rcpt_command(r, &self.ext))
            .collect();
        let envelope = if self.ext.pipelining {
            self.envelope_pipelined(&mail, &rcpts, record)?
        } else {
            self.envelope_stepwise(&mail, &rcpts, record)?
        };
        self.finish(envelope, msg.content, record)
    }

    /// MAIL, the RCPTs and DATA in one write (per group), then their replies in order.
    fn envelope_pipelined(
        &mut self,
        mail: &str,
        rcpts: &[String],
        record: &mut Record,
    ) -> Result<Envelope, Failure> {
        let command_timeout = self.timeouts.command;
        let mut commands: Vec<(StepKind, &str, Duration)> =
            vec![(StepKind::Mail, mail, command_timeout)];
        commands.extend(
            rcpts
                .iter()
                .map(|r| (StepKind::Rcpt, r.as_str(), command_timeout)),
        );
        commands.push((StepKind::Data, "DATA\r\n", self.timeouts.data_init));
        let mut replies = Vec::with_capacity(commands.len());
        for group in commands.chunks(PIPELINE_GROUP) {
            let mut timer = Some(Timer::start());
            let bytes: String = group.iter().map(|c| c.1).collect();
            if let Err(why) = self.conn.write_all(bytes.as_bytes(), command_timeout) {
                let (kind, line, _) = group[0];
                let t = timer.unwrap_or_else(Timer::start);
                return Err(self
                    .step(kind, line.trim_end(), t, Err(why), record)
                    .unwrap_err());
            }
            for (i, (kind, line, timeout)) in group.iter().enumerate() {
                let detail = if i == 0 {
                    format!("{} [pipelined, {} commands]", line.trim_end(), group.len())
                } else {
                    line.trim_end().to_string()
                };
                let t = timer.take().unwrap_or_else(Timer::start);
                let result = self.conn.read_reply(*timeout);
                let reply = self.step(*kind, &detail, t, result, record)?;
                replies.push(self.unless_closing(*kind, reply)?);
            }
        }
        let data = replies.pop();
        let mut replies = replies.into_iter();
        let mail = replies.next().expect("MAIL reply");
        Ok(Envelope {
            mail,
            rcpts: replies.collect(),
            data,
        })
    }

    /// MAIL, each RCPT, then DATA only when a recipient was accepted; one at a time.
    fn envelope_stepwise(
        &mut self,
        mail: &str,
        rcpts: &[String],
        record: &mut Record,
    ) -> Result<Envelope, Failure> {
        let timeout = self.timeouts.command;
        let mail_reply = self.command(StepKind::Mail, mail, mail.trim_end(), timeout, record)?;
        let mail_reply = self.unless_closing(StepKind::Mail, mail_reply)?;
        if !accepted(&mail_reply) {
            return Ok(Envelope {
                mail: mail_reply,
                rcpts: Vec::new(),
                data: None,
            });
        }
        let mut replies = Vec::with_capacity(rcpts.len());
        for line in rcpts {
            let reply = self.command(StepKind::Rcpt, line, line.trim_end(), timeout, record)?;
            replies.push(self.unless_closing(StepKind::Rcpt, reply)?);
        }
        let data = if replies.iter().any(accepted) {
            let timeout = self.timeouts.data_init;
            Some(self.command(StepKind::Data, "DATA\r\n", "DATA", timeout, record)?)
        } else {
            None
        };
        Ok(Envelope {
            mail: mail_reply,
            rcpts: replies,
            data,
        })
    }

    /// A 421 means the server is closing the connection (RFC 5321 §3.8): the rest of a
    /// pipelined group will never be answered, so the 421 itself is the transaction's
    /// failure (not a later "connection closed" or timeout), and the client is done.
    fn unless_closing(&mut self, kind: StepKind, reply: Reply) -> Result<Reply, Failure> {
        if reply.code == 421 {
            self.usable = false;
            return Err(Failure::new(kind, FailureKind::Reply(reply)));
        }
        Ok(reply)
    }

    /// Sends the data when everything was accepted; otherwise closes a DATA the server opened
    /// anyway, sends RSET and reports.
    fn finish(
        &mut self,
        envelope: Envelope,
        content: &[u8],
        record: &mut Record,
    ) -> Result<TransactionResult, Failure> {
        let mail_ok = accepted(&envelope.mail);
        let any_rcpt = envelope.rcpts.iter().any(accepted);
        let data_open = envelope.data.as_ref().is_some_and(|r| r.code == 354);
        if mail_ok && any_rcpt && data_open {
            let reply = self.transfer(content, record)?;
            return Ok(TransactionResult {
                recipients: envelope.rcpts,
                data: Some(reply),
            });
        }
        if data_open {
            self.close_empty_data(record)?;
        }
        // A failed RSET leaves the client unusable; the refusal below is the news.
        let _ = self.reset(record);
        if !mail_ok {
            let why = FailureKind::Reply(envelope.mail);
            return Err(Failure::new(StepKind::Mail, why));
        }
        match envelope.data {
            Some(reply) if any_rcpt => Err(Failure::new(StepKind::Data, FailureKind::Reply(reply))),
            _ => Ok(TransactionResult {
                recipients: envelope.rcpts,
                data: None,
            }),
        }
    }

    /// The dot-stuffed message in blocks, then the reply after the final dot.
    fn transfer(&mut self, content: &[u8], record: &mut Record) -> Result<Reply, Failure> {
        let timer = Timer::start();
        let wire = crate::smtp::data::dot_stuff(content);
        let detail = format!("message data, {} bytes", wire.len());
        let mut result = Ok(());
        let blocks = wire.chunks(BLOCK);
        let last = blocks.len() - 1;
        for (n, block) in blocks.enumerate() {
            // The block with the final dot goes out only while the server is not stopping.
            if n == last && !self.watch.as_ref().is_none_or(|w| w.commit()) {
                result = Err(FailureKind::Io(STOPPING.into()));
                break;
            }
            result = self.conn.write_all(block, self.timeouts.data_block);
            if result.is_err() {
                break;
            }
        }
        let result = result.and_then(|()| self.conn.read_reply(self.timeouts.data_done));
        if let Some(w) = &self.watch {
            w.settle();
        }
        self.step(StepKind::DataDone, &detail, timer, result, record)
    }

    /// The server said 354 although no recipient was accepted (RFC 2920 §3.1): end the data
    /// at once, empty.
    fn close_empty_data(&mut self, record: &mut Record) -> Result<(), Failure> {
        let timer = Timer::start();
        let result = self
            .conn
            .write_all(b".\r\n", self.timeouts.data_block)
            .and_then(|()| self.conn.read_reply(self.timeouts.data_done));
        let detail = "empty data, ending a DATA opened without recipients";
        self.step(StepKind::DataDone, detail, timer, result, record)
            .map(|_| ())
    }
}
