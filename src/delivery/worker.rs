//! A delivery worker's job: find the servers (fixed `mx`, DNS MX with implicit MX, or the
//! relay), connect to the first that answers, send the job's messages over that connection,
//! and report one `Outcome` per recipient with the step record.

use super::connections::{Connections, Open};
use super::outcome::Outcome;
use super::policy::{self, Dest};
use super::scheduler::{Job, JobMessage, JobReport, MessageReport};
use crate::client::record::{Failure, FailureKind, Record, StepKind};
use crate::client::{
    Client, ClientSettings, Credentials, OutgoingMessage, RecipientOut, TlsPolicy,
};
use crate::config::{Config, IpFamily};
use crate::dns::{DnsError, MxAnswer, Resolver, literal, order_mx};
use crate::reply::Reply;
use crate::spool::Spool;
use crate::time::Timestamp;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub struct WorkerContext {
    pub config: Arc<Config>,
    pub spool: Arc<Spool>,
    pub resolver: Arc<Resolver>,
    /// Connections parked between jobs.
    pub connections: Connections,
}

/// One server to try: its name (for TLS and the record), port, and how to talk to it.
struct Target {
    host: String,
    port: u16,
    /// `relay NAME` for relays, empty for MX hosts.
    label: String,
    settings: ClientSettings,
    /// Which address families to connect to.
    family: IpFamily,
}

/// Runs a job to its end; never panics on remote misbehaviour. Uses a parked connection to
/// the destination when there is one; parks its connection afterwards unless it has carried
/// `max_continuous` messages (then the report asks the scheduler for the pause).
pub fn run(job: &Job, ctx: &WorkerContext) -> JobReport {
    let max_continuous = policy::limits(&ctx.config, &job.dest).max_continuous;
    let (mut open, reused) = match ctx.connections.take(&job.dest) {
        Some(open) => (open, true),
        None => match open_new(&job.dest, ctx) {
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
fn open_new(dest: &Dest, ctx: &WorkerContext) -> Result<Open, (Record, Outcome)> {
    let mut record = Record::new();
    let targets = match targets(dest, ctx, &mut record) {
        Ok(t) => t,
        Err(outcome) => return Err((record, outcome)),
    };
    match connect_first(&targets, ctx, &mut record) {
        Ok((client, route)) => Ok(Open::new(client, route, record)),
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
                Some(crate::reply::Enhanced::new(4, 3, 0)),
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

/// The servers for a destination, in the order to try them.
fn targets(dest: &Dest, ctx: &WorkerContext, record: &mut Record) -> Result<Vec<Target>, Outcome> {
    let config = &ctx.config;
    let d = &config.delivery;
    match dest {
        Dest::Relay(i) => {
            let relay = &config.relays[*i];
            let settings = ClientSettings {
                helo_name: d.helo_name.clone(),
                timeouts: d.timeouts,
                tls: TlsPolicy::for_relay(relay.tls, relay.tls_verify),
                auth: Credentials::for_relay(relay),
            };
            Ok(vec![Target {
                host: relay.host.clone(),
                port: relay.port,
                label: format!("relay {}", relay.name),
                settings,
                family: d.ip_family,
            }])
        }
        Dest::Direct(domain) => {
            let rule = config.rule_for(domain);
            let family = match rule.ip_family {
                IpFamily::Any => d.ip_family,
                specific => specific,
            };
            let settings = ClientSettings {
                helo_name: d.helo_name.clone(),
                timeouts: d.timeouts,
                tls: TlsPolicy::Opportunistic,
                auth: None,
            };
            // Fixed servers (`mx =`, also from `[domain:*]`) win even over an address literal:
            // "send everything through X" means everything.
            let hosts: Vec<(String, u16)> = if !rule.mx.is_empty() {
                rule.mx
                    .iter()
                    .map(|hp| (hp.host.clone(), hp.port))
                    .collect()
            } else if let Some(ip) = literal(domain) {
                // An address literal (`user@[192.0.2.1]`) names the server itself.
                vec![(ip.to_string(), 25)]
            } else {
                mx_hosts(domain, ctx, record)?
                    .into_iter()
                    .map(|h| (h, 25))
                    .collect()
            };
            Ok(hosts
                .into_iter()
                .map(|(host, port)| Target {
                    host,
                    port,
                    label: String::new(),
                    settings: settings.clone(),
                    family,
                })
                .collect())
        }
    }
}

/// MX lookup and RFC 5321 ordering (implicit MX when there is none; null MX is permanent).
fn mx_hosts(
    domain: &str,
    ctx: &WorkerContext,
    record: &mut Record,
) -> Result<Vec<String>, Outcome> {
    let (at, t) = (Timestamp::now(), Instant::now());
    let answer = match ctx.resolver.mx(domain) {
        Ok(a) => a,
        Err(e) => {
            record.push_failed(
                StepKind::Dns,
                at,
                t.elapsed(),
                &format!("MX {domain}: {}", dns_words(&e)),
            );
            return Err(Outcome::from_dns(domain, &e));
        }
    };
    let seed = at.as_micros() ^ u64::from(std::process::id());
    match order_mx(&answer, domain, seed) {
        Ok(hosts) => {
            let detail = match &answer {
                MxAnswer::NoRecords => {
                    format!("MX {domain}: none, using the domain itself (implicit MX)")
                }
                _ => format!("MX {domain}: {}", hosts.join(", ")),
            };
            record.push_ok(StepKind::Dns, at, t.elapsed(), &detail);
            Ok(hosts)
        }
        Err(_) => {
            record.push_failed(
                StepKind::Dns,
                at,
                t.elapsed(),
                &format!("MX {domain}: null MX, the domain accepts no mail"),
            );
            Err(Outcome::null_mx(domain))
        }
    }
}

fn dns_words(e: &DnsError) -> String {
    format!("{e}")
}

/// Tries each target's addresses in turn; the first server that answers is used (RFC 5321
/// §5.1). An MX host whose STARTTLS fails is retried in plain text.
fn connect_first(
    targets: &[Target],
    ctx: &WorkerContext,
    record: &mut Record,
) -> Result<(Client, String), Outcome> {
    let mut last: Option<Outcome> = None;
    for target in targets {
        let addrs = match addresses(target, ctx, record) {
            Ok(a) => a,
            Err(outcome) => {
                last = Some(outcome);
                continue;
            }
        };
        for ip in addrs {
            let addr = SocketAddr::new(ip, target.port);
            let route = route_name(target, addr);
            match Client::connect(addr, &target.host, &target.settings, record) {
                Ok(client) => return Ok((client, route)),
                Err(f)
                    if f.step == StepKind::StartTls
                        && target.settings.tls == TlsPolicy::Opportunistic =>
                {
                    let plain = ClientSettings {
                        tls: TlsPolicy::Never,
                        ..target.settings.clone()
                    };
                    match Client::connect(addr, &target.host, &plain, record) {
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

fn addresses(
    target: &Target,
    ctx: &WorkerContext,
    record: &mut Record,
) -> Result<Vec<IpAddr>, Outcome> {
    if let Some(ip) = literal(&target.host) {
        return Ok(vec![ip]);
    }
    let (at, t) = (Timestamp::now(), Instant::now());
    match ctx.resolver.addresses(&target.host, target.family) {
        Ok(ips) => {
            let list: Vec<String> = ips.iter().map(|ip| ip.to_string()).collect();
            record.push_ok(
                StepKind::Dns,
                at,
                t.elapsed(),
                &format!("{}: {}", target.host, list.join(", ")),
            );
            Ok(ips)
        }
        Err(e) => {
            record.push_failed(
                StepKind::Dns,
                at,
                t.elapsed(),
                &format!("{}: {}", target.host, dns_words(&e)),
            );
            Err(Outcome::from_dns(&target.host, &e))
        }
    }
}

/// `mx1.example.test [192.0.2.1]:25`, or `relay isp (smtp.isp.test [192.0.2.9]:587)`.
fn route_name(target: &Target, addr: SocketAddr) -> String {
    let base = format!("{} [{}]:{}", target.host, addr.ip(), addr.port());
    if target.label.is_empty() {
        base
    } else {
        format!("{} ({base})", target.label)
    }
}
