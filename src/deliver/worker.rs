//! A delivery worker's job: find the servers (fixed `mx`, DNS MX with implicit MX, or the
//! relay), connect to the first that answers, send the job's messages over that connection,
//! and report one `Outcome` per recipient with the step record.

use super::connections::{Connections, Open};
use super::route::{self, Target};
use crate::client::{Client, ClientSettings, Dialer, OutgoingMessage, RecipientOut, TlsPolicy};
use crate::config::Config;
use crate::dns::Lookup;
use crate::outcome::Outcome;
use crate::queue::policy::{self, Dest};
use crate::queue::scheduler::{Job, JobMessage, JobReport, MessageReport};
use crate::smtp::reply::Reply;
use crate::spool::Spool;
use crate::time::Timestamp;
use crate::transcript::{Failure, FailureKind, Record, StepKind};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// What every worker shares. The settings come with each job (`Job::config`).
pub struct WorkerContext {
    pub spool: Arc<Spool>,
    /// The DNS (the real resolver, or a table in tests).
    pub resolver: Arc<dyn Lookup>,
    /// Opens connections and runs TLS handshakes (TCP and native-tls, or scripts in tests).
    pub dialer: Arc<dyn Dialer>,
    /// Connections parked between jobs.
    pub connections: Connections,
}

/// Runs a job to its end; never panics on remote misbehaviour. Uses a parked connection to
/// the destination when there is one; parks its connection afterwards unless it has carried
/// `max_continuous` messages (then the report asks the scheduler for the pause).
pub fn run(job: &Job, ctx: &WorkerContext) -> JobReport {
    let config = &job.config;
    let max_continuous = policy::limits(config, &job.dest).max_continuous;
    let (mut open, reused) = match ctx.connections.take(&job.dest, config) {
        Some(open) => (open, true),
        None => match open_new(&job.dest, config, ctx) {
            Ok(open) => (open, false),
            Err((record, outcome)) => return everyone(job, &record, &outcome),
        },
    };
    let mut messages = Vec::with_capacity(job.messages.len());
    for jm in &job.messages {
        if !open.client.is_usable() || open.sent >= max_continuous {
            messages.push(MessageReport {
                outcomes: vec![None; jm.recipients.len()],
                record: Record::new(),
                dsn: false,
            });
            continue;
        }
        let mut msg_record = open.record.clone();
        if reused {
            let detail = format!(
                "reusing the open connection to {} (message {} on it)",
                open.route,
                open.sent + 1
            );
            msg_record.push_ok(StepKind::Connect, Timestamp::now(), Duration::ZERO, &detail);
        }
        let first_on_reused = reused && open.sent == 0;
        let outcomes = send_one(&mut open.client, jm, &open.route, ctx, &mut msg_record);
        open.sent += 1;
        if first_on_reused && !open.client.is_usable() {
            // The parked connection had gone stale: not this message's fault, try it again.
            messages.push(MessageReport {
                outcomes: vec![None; jm.recipients.len()],
                record: Record::new(),
                dsn: false,
            });
            continue;
        }
        messages.push(MessageReport {
            outcomes,
            record: msg_record,
            dsn: open.client.extensions().dsn,
        });
    }
    let run_complete = open.sent >= max_continuous;
    if open.client.is_usable() && !run_complete {
        ctx.connections.park(job.dest.clone(), open);
    } else if open.client.is_usable() {
        let mut quit = Record::new();
        open.client.quit(&mut quit);
    }
    JobReport {
        id: job.id,
        messages,
        run_complete,
    }
}

/// DNS (or the fixed route) and a new connection to the first server that answers.
fn open_new(
    dest: &Dest,
    config: &Arc<Config>,
    ctx: &WorkerContext,
) -> Result<Open, (Record, Outcome)> {
    let mut record = Record::new();
    let targets = match route::targets(dest, config, &*ctx.resolver, &mut record) {
        Ok(t) => t,
        Err(outcome) => return Err((record, outcome)),
    };
    match connect_first(&targets, &*ctx.resolver, &*ctx.dialer, &mut record) {
        Ok((client, route)) => Ok(Open::new(client, route, record, config.clone())),
        Err(outcome) => Err((record, outcome)),
    }
}

/// The same outcome for every recipient of the job (DNS or connection failed).
fn everyone(job: &Job, record: &Record, outcome: &Outcome) -> JobReport {
    let messages = job
        .messages
        .iter()
        .map(|jm| MessageReport {
            outcomes: vec![Some(outcome.clone()); jm.recipients.len()],
            record: record.clone(),
            dsn: false,
        })
        .collect();
    JobReport {
        id: job.id,
        messages,
        run_complete: false,
    }
}

/// Sends one message and turns the replies into outcomes.
fn send_one(
    client: &mut Client,
    jm: &JobMessage,
    route: &str,
    ctx: &WorkerContext,
    record: &mut Record,
) -> Vec<Option<Outcome>> {
    let env = &jm.envelope;
    let content = match ctx.spool.read_message(&env.id) {
        Ok(c) => c,
        Err(e) => {
            let reply = Reply::new(
                451,
                Some(crate::smtp::reply::Enhanced::new(4, 3, 0)),
                format!("cannot read the spooled message: {e}"),
            );
            let outcome = Outcome::from_reply(StepKind::Mail, "local spool", &reply);
            return vec![Some(outcome); jm.recipients.len()];
        }
    };
    let recipients: Vec<RecipientOut> = jm
        .recipients
        .iter()
        .map(|&i| {
            let r = &env.recipients[i];
            RecipientOut {
                address: r.address.clone(),
                notify: r.notify,
                orcpt: r.orcpt.clone(),
            }
        })
        .collect();
    let msg = OutgoingMessage {
        sender: &env.sender,
        params: &env.params,
        recipients: &recipients,
        content: &content,
    };
    match client.send(&msg, record) {
        Ok(result) => result
            .recipients
            .iter()
            .map(|rcpt_reply| {
                let outcome = match (&result.data, rcpt_reply.is_positive()) {
                    (Some(data), true) => Outcome::from_reply(StepKind::DataDone, route, data),
                    _ => Outcome::from_reply(StepKind::Rcpt, route, rcpt_reply),
                };
                Some(outcome)
            })
            .collect(),
        Err(failure) => vec![Some(Outcome::from_failure(route, &failure)); jm.recipients.len()],
    }
}

/// Tries each target's addresses in turn; the first server that answers is used (RFC 5321
/// §5.1). An MX host whose STARTTLS fails is retried in plain text.
fn connect_first(
    targets: &[Target],
    resolver: &dyn Lookup,
    dialer: &dyn Dialer,
    record: &mut Record,
) -> Result<(Client, String), Outcome> {
    let mut last: Option<Outcome> = None;
    for target in targets {
        let addrs = match route::addresses(target, resolver, record) {
            Ok(a) => a,
            Err(outcome) => {
                last = Some(outcome);
                continue;
            }
        };
        for ip in addrs {
            let addr = SocketAddr::new(ip, target.port);
            let route = route::route_name(target, addr);
            match Client::connect(dialer, addr, &target.host, &target.settings, record) {
                Ok(client) => return Ok((client, route)),
                Err(f)
                    if f.step == StepKind::StartTls
                        && target.settings.tls == TlsPolicy::Opportunistic =>
                {
                    let plain = ClientSettings {
                        tls: TlsPolicy::Never,
                        ..target.settings.clone()
                    };
                    match Client::connect(dialer, addr, &target.host, &plain, record) {
                        Ok(client) => return Ok((client, route)),
                        Err(f) => last = Some(Outcome::from_failure(&route, &f)),
                    }
                }
                Err(f) => {
                    let outcome = Outcome::from_failure(&route, &f);
                    if answered(&f) {
                        return Err(outcome);
                    }
                    last = Some(outcome);
                }
            }
        }
    }
    Err(last.unwrap_or_else(|| {
        Outcome::from_failure(
            "",
            &Failure {
                step: StepKind::Connect,
                kind: FailureKind::Io("no server to try".into()),
            },
        )
    }))
}

/// A server that answered (other than 421 "busy") ends the search for another one.
fn answered(f: &Failure) -> bool {
    matches!(&f.kind, FailureKind::Reply(r) if r.code != 421 && !r.is_transient())
}

#[cfg(test)]
mod tests;
