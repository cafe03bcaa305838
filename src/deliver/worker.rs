//! A delivery worker's job: find the servers (fixed `mx`, DNS MX with implicit MX, or the
//! relay), connect to the first that answers, send the job's messages over that connection,
//! and report one `Outcome` per recipient with the step record.

use super::connections::{Connections, Open};
use super::route::{self, Myself, Target};
use super::tls_policy::store::Store;
use crate::client::halt::Halt;
use crate::client::{
    Client, ClientSettings, Dialer, OutgoingMessage, RecipientOut, Secure, TlsPolicy,
};
use crate::config::Config;
use crate::config::pattern::Pattern;
use crate::dns::Lookup;
use crate::outcome::{self, Outcome, Verdict};
use crate::queue::policy::{self, Dest};
use crate::queue::scheduler::{Job, JobMessage, JobReport, MessageReport};
use crate::smtp::reply::Reply;
use crate::spool::Spool;
use crate::time::Timestamp;
use crate::transcript::tls::TlsState;
use crate::transcript::{Failure, FailureKind, Record, StepKind};
use std::collections::VecDeque;
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
    /// The recipient domains' MTA-STS policies (`None` in tests that need none).
    pub sts: Option<Store>,
    /// Closes the connections of the jobs in flight when the server stops (the same one
    /// `dialer` watches them with).
    pub halt: Arc<Halt>,
}

/// Runs a job to its end; never panics on remote misbehaviour. Uses a parked connection to
/// the destination when there is one and the server has not closed it meanwhile; parks its
/// connection afterwards unless it has carried `max_continuous` messages (then the report
/// asks the scheduler for the pause).
pub fn run(job: &Job, ctx: &WorkerContext) -> JobReport {
    let config = &job.config;
    let limits = policy::limits(config, &job.dest);
    let mut prefix = Record::new();
    let open = match parked(&job.dest, config, ctx, &mut prefix) {
        Some(open) => open,
        None => match open_new(&job.dest, config, ctx) {
            Ok(open) => open,
            Err(failed) => {
                let (record, outcome) = *failed;
                prefix.steps.extend(record.steps);
                return everyone(job, &prefix, &outcome);
            }
        },
    };
    let mut slot = Some(open);
    let mut messages = Vec::with_capacity(job.messages.len());
    for jm in &job.messages {
        let record = std::mem::take(&mut prefix);
        let room = slot
            .as_ref()
            .is_some_and(|o| o.client.is_usable() && o.sent < limits.max_continuous);
        messages.push(if room {
            let each = limits.max_rcpt_per_transaction as usize;
            one_message(jm, &mut slot, &job.dest, config, ctx, each, record)
        } else {
            not_tried(jm)
        });
    }
    let run_complete = slot
        .as_ref()
        .is_some_and(|o| o.sent >= limits.max_continuous);
    if let Some(open) = slot.filter(|o| o.client.is_usable()) {
        if run_complete {
            open.client.quit(&mut Record::new());
        } else {
            ctx.connections.park(job.dest.clone(), open);
        }
    }
    JobReport {
        id: job.id,
        messages,
        run_complete,
    }
}

/// A parked connection the server has not closed meanwhile; one it closed (EOF, or a `421
/// 4.4.2 idle timeout` waiting) is dropped, and the record of the next message says so.
fn parked(
    dest: &Dest,
    config: &Arc<Config>,
    ctx: &WorkerContext,
    record: &mut Record,
) -> Option<Open> {
    let mut open = ctx.connections.take(dest, config)?;
    match open.client.check_idle() {
        Ok(()) => Some(open),
        Err(why) => {
            reconnected(record, &open.route, &why);
            None
        }
    }
}

/// The step that says a reused connection was found closed and replaced.
fn reconnected(record: &mut Record, route: &str, why: &str) {
    let detail =
        format!("the server had closed the reused connection to {route} ({why}); reconnected");
    record.push_ok(StepKind::Connect, Timestamp::now(), Duration::ZERO, &detail);
}

/// A job taken or cut short while the server stops: every recipient without an answer of
/// its own (a delivery, a refusal) goes back to the queue without counting an attempt, as
/// does a job not started. The steps say why.
pub fn abandoned(job: &Job, report: Option<JobReport>) -> JobReport {
    let Some(mut report) = report else {
        let messages = job.messages.iter().map(not_tried).collect();
        return JobReport {
            id: job.id,
            messages,
            run_complete: false,
        };
    };
    for m in &mut report.messages {
        let mut cut = false;
        for o in &mut m.outcomes {
            if o.as_ref().is_some_and(|o| o.verdict == Verdict::Temporary) {
                *o = None;
                cut = true;
            }
        }
        if cut {
            let why = "this server stopped: the attempt was abandoned and is not counted";
            m.record
                .push_ok(StepKind::Quit, Timestamp::now(), Duration::ZERO, why);
        }
    }
    report
}

/// A message the job did not get to: back to the queue without counting an attempt.
fn not_tried(jm: &JobMessage) -> MessageReport {
    MessageReport {
        outcomes: vec![None; jm.recipients.len()],
        record: Record::new(),
        dsn: false,
    }
}

/// One message over the job's connection (`slot`). When the connection had carried mail
/// before and the server turns out to have closed it before accepting anything of this
/// transaction, that does not count: a fresh connection replaces it and the message goes
/// out again at once; only a failure on the fresh one counts.
fn one_message(
    jm: &JobMessage,
    slot: &mut Option<Open>,
    dest: &Dest,
    config: &Arc<Config>,
    ctx: &WorkerContext,
    each: usize,
    mut record: Record,
) -> MessageReport {
    let Some(open) = slot.as_mut() else {
        return not_tried(jm);
    };
    let content = match ctx.spool.read_message(&jm.envelope.id) {
        Ok(c) => c,
        Err(e) => return spool_failure(jm, &e, record),
    };
    record.steps.extend(open.record.steps.iter().cloned());
    if open.sent > 0 {
        let detail = format!(
            "reusing the open connection to {} (message {} on it)",
            open.route,
            open.sent + 1
        );
        record.push_ok(StepKind::Connect, Timestamp::now(), Duration::ZERO, &detail);
    }
    let reused = open.sent > 0;
    open.sent += 1;
    let n = jm.recipients.len();
    let closed = match send_message(
        &mut open.client,
        jm,
        &content,
        each,
        &open.route,
        &mut record,
    ) {
        Sent::Outcomes(outcomes) => return report(outcomes, record, slot),
        Sent::Closed(f) if !reused => {
            let outcome = Outcome::from_failure(&open.route, &f);
            return report(vec![Some(outcome); n], record, slot);
        }
        Sent::Closed(f) => (open.route.clone(), f),
    };
    let why = match &closed.1.kind {
        FailureKind::Reply(r) => format!("it said {}", r.one_line()),
        other => other.to_string(),
    };
    reconnected(&mut record, &closed.0, &why);
    *slot = None;
    let mut open = match open_new(dest, config, ctx) {
        Ok(open) => open,
        Err(failed) => {
            let (opening, outcome) = *failed;
            record.steps.extend(opening.steps);
            return report(vec![Some(outcome); n], record, slot);
        }
    };
    record.steps.extend(open.record.steps.iter().cloned());
    open.sent = 1;
    let route = open.route.clone();
    let outcomes = match send_message(&mut open.client, jm, &content, each, &route, &mut record) {
        Sent::Outcomes(outcomes) => outcomes,
        Sent::Closed(f) => vec![Some(Outcome::from_failure(&route, &f)); n],
    };
    let open = slot.insert(open);
    let dsn = open.client.extensions().dsn;
    MessageReport {
        outcomes,
        record,
        dsn,
    }
}

fn report(outcomes: Vec<Option<Outcome>>, record: Record, slot: &Option<Open>) -> MessageReport {
    MessageReport {
        outcomes,
        record,
        dsn: slot.as_ref().is_some_and(|o| o.client.extensions().dsn),
    }
}

/// The spooled message could not be read: a temporary failure for its recipients.
fn spool_failure(jm: &JobMessage, e: &dyn std::fmt::Display, record: Record) -> MessageReport {
    let reply = Reply::new(
        451,
        Some(crate::smtp::reply::Enhanced::new(4, 3, 0)),
        format!("cannot read the spooled message: {e}"),
    );
    let outcome = Outcome::from_reply(StepKind::Mail, "local spool", &reply);
    MessageReport {
        outcomes: vec![Some(outcome); jm.recipients.len()],
        record,
        dsn: false,
    }
}

/// DNS (or the fixed route) and a new connection to the first server that answers; or the
/// steps so far and the outcome for every recipient (boxed: it is the rare path).
fn open_new(
    dest: &Dest,
    config: &Arc<Config>,
    ctx: &WorkerContext,
) -> Result<Open, Box<(Record, Outcome)>> {
    let mut record = Record::new();
    let sts = ctx.sts.as_ref();
    let targets = match route::targets(dest, config, &*ctx.resolver, sts, &mut record) {
        Ok(t) => t,
        Err(outcome) => return Err(Box::new((record, outcome))),
    };
    let myself = Myself::of(config, dest);
    let throttle_on = policy::throttle_on(config, dest);
    let (resolver, dialer) = (&*ctx.resolver, &*ctx.dialer);
    let found = connect_first(
        &targets,
        (&myself, throttle_on),
        resolver,
        dialer,
        &mut record,
    );
    match found {
        Ok((client, route)) => Ok(Open::new(client, route, record, config.clone())),
        Err(outcome) => Err(Box::new((record, outcome))),
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

/// How a message's transactions ended.
enum Sent {
    /// Per recipient; `None` for those left when the connection ended between transactions
    /// (back to the queue without counting an attempt).
    Outcomes(Vec<Option<Outcome>>),
    /// The first transaction found the connection closed before the server accepted
    /// anything of it (see `outcome::closed_before_accepting`).
    Closed(Failure),
}

/// Sends one message in as many transactions as it takes: at most `each` recipients in
/// one, and the recipients refused only as "too many recipients" (`452 4.5.3`) again at
/// once in the next (RFC 5321 §4.5.3.1.8), while the connection stays open.
fn send_message(
    client: &mut Client,
    jm: &JobMessage,
    content: &[u8],
    each: usize,
    route: &str,
    record: &mut Record,
) -> Sent {
    let env = &jm.envelope;
    let all: Vec<RecipientOut> = jm
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
    let mut outcomes = vec![None; all.len()];
    let mut pending: VecDeque<usize> = (0..all.len()).collect();
    let mut first = true;
    while !pending.is_empty() && client.is_usable() {
        let batch: Vec<usize> = pending.drain(..pending.len().min(each.max(1))).collect();
        let recipients: Vec<RecipientOut> = batch.iter().map(|&k| all[k].clone()).collect();
        let msg = OutgoingMessage {
            sender: &env.sender,
            params: &env.params,
            recipients: &recipients,
            content,
        };
        let result = match client.send(&msg, record) {
            Ok(result) => result,
            Err(f) if outcome::closed_before_accepting(&f) && first => return Sent::Closed(f),
            // A later transaction found the connection closed: its recipients wait for
            // the next job, uncounted.
            Err(f) if outcome::closed_before_accepting(&f) => break,
            Err(f) => {
                let outcome = Outcome::from_failure(route, &f);
                batch
                    .iter()
                    .for_each(|&k| outcomes[k] = Some(outcome.clone()));
                break;
            }
        };
        first = false;
        let mut later = Vec::new();
        for (&k, reply) in batch.iter().zip(&result.recipients) {
            if outcome::too_many_recipients(reply) {
                later.push(k);
                continue;
            }
            outcomes[k] = Some(match (&result.data, reply.is_positive()) {
                (Some(data), true) => Outcome::from_reply(StepKind::DataDone, route, data),
                _ => Outcome::from_reply(StepKind::Rcpt, route, reply),
            });
        }
        if later.len() == batch.len() {
            // Not one taken: the limit is not the reason; the refusal is the answer.
            for (&k, reply) in batch.iter().zip(&result.recipients) {
                outcomes[k] = Some(Outcome::from_reply(StepKind::Rcpt, route, reply));
            }
            break;
        }
        later.into_iter().rev().for_each(|k| pending.push_front(k));
    }
    for outcome in outcomes.iter_mut().flatten() {
        outcome.tls = client.tls_state();
    }
    Sent::Outcomes(outcomes)
}

/// A failed connection; at STARTTLS (or the implicit TLS handshake) when TLS was required,
/// the TLS demand it did not meet.
fn failed(route: &str, f: &Failure, secure: &Secure) -> Outcome {
    match (f.step, secure.mode) {
        (StepKind::StartTls, TlsPolicy::Required | TlsPolicy::Implicit) => {
            Outcome::tls_unmet(route, f, secure.demand)
        }
        _ => Outcome::from_failure(route, f),
    }
}

/// Adds to the failing step whose TLS requirement was not met, in the log's words (`; not
/// sent: required a verified encrypted connection (DANE)`), for the page's timeline.
fn note_requirement(record: &mut Record, outcome: &Outcome) {
    let Some(demand) = outcome.unmet_tls() else {
        return;
    };
    if let Some(step) = record.steps.iter_mut().rev().find(|s| !s.ok) {
        step.detail = format!("{}; {}", step.detail, TlsState::Unmet { demand });
    }
}

/// Tries each target's addresses in turn; the first server that answers is used (RFC 5321
/// §5.1). An MX host whose STARTTLS fails is retried in plain text. A greeting that says
/// the provider throttles us (`throttle_on`) ends the search: its other servers would say
/// the same.
fn connect_first(
    targets: &[Target],
    (myself, throttle_on): (&Myself, &[Pattern]),
    resolver: &dyn Lookup,
    dialer: &dyn Dialer,
    record: &mut Record,
) -> Result<(Client, String), Outcome> {
    let mut last: Option<Outcome> = None;
    for target in targets {
        if let Some(why) = &target.refused {
            record.push_failed(StepKind::Connect, Timestamp::now(), Duration::ZERO, why);
            let outcome = Outcome::tls_unmet(
                &target.host,
                &Failure {
                    step: StepKind::StartTls,
                    kind: FailureKind::Tls(why.clone()),
                },
                target.settings.tls.demand,
            );
            note_requirement(record, &outcome);
            last = Some(outcome);
            continue;
        }
        if let Some(why) = &target.doubt {
            let detail = format!("MTA-STS testing: enforce would refuse this: {why}");
            record.push_ok(StepKind::Connect, Timestamp::now(), Duration::ZERO, &detail);
        }
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
            if myself.listens_on(addr) {
                let why = "is an address this server listens on";
                return Err(looped(myself, &route, why, record));
            }
            match Client::connect(dialer, addr, &target.host, &target.settings, record) {
                Ok(client) => return not_myself(client, route, myself, record),
                Err(f)
                    if f.step == StepKind::StartTls
                        && target.settings.tls.mode == TlsPolicy::Opportunistic =>
                {
                    let plain = ClientSettings {
                        tls: target.settings.tls.with_mode(TlsPolicy::PlainRetry),
                        ..target.settings.clone()
                    };
                    match Client::connect(dialer, addr, &target.host, &plain, record) {
                        Ok(client) => return not_myself(client, route, myself, record),
                        Err(f) => last = Some(Outcome::from_failure(&route, &f)),
                    }
                }
                Err(f) => {
                    let outcome = failed(&route, &f, &target.settings.tls);
                    note_requirement(record, &outcome);
                    if answered(&f) || outcome::throttles(&outcome, throttle_on) {
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

/// The connection, unless the server greeted with our own name (RFC 5321 §6.3: then it is
/// this server, and the mail would go round for ever).
fn not_myself(
    client: Client,
    route: String,
    myself: &Myself,
    record: &mut Record,
) -> Result<(Client, String), Outcome> {
    if !myself.is_named(client.server_names()) {
        return Ok((client, route));
    }
    client.quit(record);
    let why = "greets with this server's own name";
    Err(looped(myself, &route, why, record))
}

/// The loop's step in the record, and its permanent outcome.
fn looped(myself: &Myself, route: &str, why: &str, record: &mut Record) -> Outcome {
    let outcome = Outcome::mail_loop(&myself.domain, route);
    let detail = format!("{route} {why}: {}", outcome.detail);
    record.push_failed(StepKind::Connect, Timestamp::now(), Duration::ZERO, &detail);
    outcome
}

/// A server that answered (other than 421 "busy") ends the search for another one.
fn answered(f: &Failure) -> bool {
    matches!(&f.kind, FailureKind::Reply(r) if r.code != 421 && !r.is_transient())
}

#[cfg(test)]
mod tests;
