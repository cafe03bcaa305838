//! The JSON answers of `/api/...` and the text answer of `qksmtp show` (`?format=text`; the
//! text queue listing is `cli::listing`'s), built from the scheduler's snapshot. Pure.

use super::html::Body;
use super::json::J;
use super::route::Search;
use crate::cli::listing;
use crate::doctor::{Report, Verdict};
use crate::outcome::GiveUp;
use crate::queue::find::{Found, PAGE};
use crate::queue::snapshot::{
    DestView, Health, MessageView, RecipientView, Shown, Snapshot, ThrottleView, Waiting,
};
use crate::reload::Answer;
use crate::time::Timestamp;
use crate::transcript::read::{self, Attempt, Entry};

/// One message with what the detail view adds.
#[derive(Debug, Clone, PartialEq)]
pub struct Detail {
    pub view: MessageView,
    pub headers: String,
    /// The step record text (`ID.steps`).
    pub steps: String,
}

/// `2026-11-23T07:37:00Z`.
pub fn time(t: Timestamp) -> J {
    J::Str(t.iso().replace(' ', "T"))
}

fn opt_time(t: Option<Timestamp>) -> J {
    t.map_or(J::Null, time)
}

/// `POST /api/reload`: `{"reloaded": true, "path", "changed": [..], "restart_needed": [..],
/// "warnings": [..]}`, or `{"reloaded": false, "path", "error", "errors": [..]}`.
pub fn reload(answer: &Answer) -> J {
    let list = |lines: &[String]| J::Arr(lines.iter().map(|l| l.as_str().into()).collect());
    match answer {
        Answer::Reloaded {
            path,
            changed,
            restart,
            warnings,
        } => J::obj(vec![
            ("reloaded", true.into()),
            ("path", path.display().to_string().into()),
            ("changed", list(changed)),
            ("restart_needed", list(restart)),
            ("warnings", list(warnings)),
        ]),
        Answer::Refused { path, errors } => J::obj(vec![
            ("reloaded", false.into()),
            ("path", path.display().to_string().into()),
            (
                "error",
                format!(
                    "{} has {} error(s); nothing changed",
                    path.display(),
                    errors.len()
                )
                .into(),
            ),
            ("errors", list(errors)),
        ]),
    }
}

/// A `qksmtp doctor` report (`qksmtp doctor --json`, `GET /api/doctor`): `{"ok", "at",
/// "sender", "to": [..], "problems", "warnings", "findings": [{"check", "verdict", "what",
/// "fix"}]}`; `verdict` is `ok`, `warning` or `problem`.
pub fn doctor(report: &Report) -> J {
    let findings = report
        .findings
        .iter()
        .map(|f| {
            J::obj(vec![
                ("check", f.check.as_str().into()),
                ("verdict", f.verdict.name().into()),
                ("what", f.what.as_str().into()),
                ("fix", f.fix.as_deref().into()),
            ])
        })
        .collect();
    J::obj(vec![
        ("ok", report.ok().into()),
        ("at", time(report.at)),
        ("sender", report.sender.as_deref().into()),
        (
            "to",
            J::Arr(report.to.iter().map(|d| d.as_str().into()).collect()),
        ),
        ("problems", report.count(Verdict::Problem).into()),
        ("warnings", report.count(Verdict::Warning).into()),
        ("findings", J::Arr(findings)),
    ])
}

/// `GET /api/status`.
pub fn status(s: &Snapshot) -> J {
    let c = s.counters;
    J::obj(vec![
        ("now", time(s.now)),
        ("running_since", time(s.started)),
        (
            "state",
            if s.in_flight > 0 { "sending" } else { "idle" }.into(),
        ),
        ("workers", s.workers.into()),
        ("in_flight", s.in_flight.into()),
        (
            "counters",
            J::obj(vec![
                ("received", c.received.into()),
                ("delivered", c.delivered.into()),
                ("deferred", c.deferred.into()),
                ("bounced", c.bounced.into()),
            ]),
        ),
        (
            "queue",
            J::obj(vec![
                ("messages", s.totals.messages.into()),
                ("queued", s.totals.queued.into()),
                ("sending", s.totals.sending.into()),
                ("deferred", s.totals.deferred.into()),
                ("held", s.totals.held.into()),
            ]),
        ),
        (
            "destinations",
            J::Arr(s.dests.iter().map(|d| dest(d, s.now)).collect()),
        ),
        ("health", health(&s.health)),
    ])
}

/// `{"healthy":..,"spool":{"writable":..,"error":..},"dns":{..}|null,"last_delivery":..}`.
fn health(h: &Health) -> J {
    let spool_error = match &h.spool {
        Some(Err(e)) => J::from(e.as_str()),
        _ => J::Null,
    };
    let dns = h.dns.as_ref().map_or(J::Null, |d| {
        J::obj(vec![
            ("at", time(d.at)),
            ("answering", d.answering.into()),
            ("detail", d.detail.as_str().into()),
        ])
    });
    J::obj(vec![
        ("healthy", healthy(h).into()),
        (
            "spool",
            J::obj(vec![
                ("writable", matches!(h.spool, Some(Ok(()))).into()),
                ("error", spool_error),
            ]),
        ),
        ("dns", dns),
        ("last_delivery", opt_time(h.last_delivery)),
    ])
}

/// Healthy: the spool takes files and the last DNS lookup was answered (or none was made).
pub fn healthy(h: &Health) -> bool {
    !matches!(h.spool, Some(Err(_))) && h.dns.as_ref().is_none_or(|d| d.answering)
}

fn dest(d: &DestView, now: Timestamp) -> J {
    let state = d.state(now);
    J::obj(vec![
        ("name", d.name.as_str().into()),
        ("state", state.name().into()),
        ("why", state.why().into()),
        ("held", d.held.into()),
        ("connections", d.active.into()),
        ("max_connections", d.max_connections.into()),
        ("in_run", d.in_run.into()),
        ("max_continuous", d.max_continuous.into()),
        ("ready", d.ready.into()),
        ("paused_until", opt_time(d.paused_until)),
        ("throttled", d.throttled.as_ref().map_or(J::Null, throttled)),
        ("next_retry", opt_time(d.next_retry)),
        ("per_minute", per_minute(&d.chart)),
        (
            "last_error",
            d.last_error.as_ref().map_or(J::Null, |(at, e)| {
                J::obj(vec![("at", time(*at)), ("error", e.as_str().into())])
            }),
        ),
    ])
}

/// The chart's minutes, sparse (the page polls this for every destination, and most minutes
/// of most are empty): `{"minutes":60,"busy":[[MINUTE,DELIVERED,DEFERRED,FAILED],..]}`,
/// oldest minute 0.
fn per_minute(chart: &[[u32; 3]]) -> J {
    let busy = chart
        .iter()
        .enumerate()
        .filter(|(_, c)| c.iter().any(|&n| n > 0))
        .map(|(i, c)| J::Arr([i as u32, c[0], c[1], c[2]].map(J::from).to_vec()))
        .collect();
    J::obj(vec![
        ("minutes", chart.len().into()),
        ("busy", J::Arr(busy)),
    ])
}

/// `GET /api/messages?q=TEXT&state=STATE&dest=DOMAIN&page=N`: one page of what the search
/// found, the queue's newest first, then the recently finished.
pub fn found(f: &Found, search: &Search, now: Timestamp) -> J {
    J::obj(vec![
        ("now", time(now)),
        ("total", f.total.into()),
        ("page", search.page.into()),
        ("per_page", PAGE.into()),
        ("messages", J::Arr(f.messages.iter().map(message).collect())),
    ])
}

/// `GET /api/messages`: the queue and the recently finished, newest first.
pub fn messages(s: &Snapshot) -> J {
    J::obj(vec![
        ("now", time(s.now)),
        ("queued", J::Arr(s.messages.iter().map(message).collect())),
        ("finished", J::Arr(s.finished.iter().map(message).collect())),
    ])
}

pub fn message(m: &MessageView) -> J {
    J::obj(vec![
        ("id", m.id.as_str().into()),
        ("arrival", time(m.arrival)),
        ("sender", m.sender.as_str().into()),
        ("subject", m.subject.clone().into()),
        ("size", m.size.into()),
        ("held", m.held.into()),
        ("finished", opt_time(m.finished)),
        (
            "recipients",
            J::Arr(m.recipients.iter().map(recipient).collect()),
        ),
    ])
}

fn recipient(r: &RecipientView) -> J {
    J::obj(vec![
        ("address", r.address.as_str().into()),
        ("state", r.state.name().into()),
        ("next_try", opt_time(r.next_try)),
        ("last_result", r.last_result.clone().into()),
        ("explanation", explain(r).into()),
        ("direct_tries", r.direct_tries.into()),
        ("relay_tries", r.relay_tries.into()),
        ("gave_up", r.gave_up.map(|g| g.name().to_string()).into()),
        ("notice_pending", r.notice_pending.into()),
        ("waiting", r.waiting.as_ref().map_or(J::Null, waiting)),
    ])
}

/// A throttled destination: since when, why, when its next message may go.
fn throttled(t: &ThrottleView) -> J {
    J::obj(vec![
        ("since", time(t.since)),
        ("reason", t.why.as_str().into()),
        ("next_message", time(t.next)),
        ("delay_seconds", t.delay.as_secs().into()),
        ("connections", t.connections.into()),
    ])
}

fn waiting(w: &Waiting) -> J {
    match w {
        Waiting::Throttled { dest, next, why } => J::obj(vec![
            ("dest", dest.as_str().into()),
            ("throttled_until", time(*next)),
            ("reason", why.as_str().into()),
        ]),
        Waiting::Paused { dest, until } => J::obj(vec![
            ("dest", dest.as_str().into()),
            ("paused_until", time(*until)),
        ]),
        Waiting::Held { dest } => {
            J::obj(vec![("dest", dest.as_str().into()), ("held", true.into())])
        }
        Waiting::Busy {
            dest,
            max_connections,
        } => J::obj(vec![
            ("dest", dest.as_str().into()),
            ("max_connections", (*max_connections).into()),
        ]),
    }
}

/// When a waiting recipient moves next, in words and time: `next try` at its retry time, or
/// `until` its destination's pause ends.
pub fn when(r: &RecipientView) -> Option<(&'static str, Timestamp)> {
    match (&r.waiting, r.state) {
        (Some(Waiting::Paused { until, .. }), _) => Some(("until", *until)),
        (Some(Waiting::Throttled { next, .. }), _) => Some(("until", *next)),
        (_, Shown::Deferred) => r.next_try.map(|t| ("next try", t)),
        _ => None,
    }
}

/// `GET /api/messages/ID`: the message, its headers and every attempt step by step.
pub fn detail(d: &Detail, body: Option<&Body>) -> J {
    let J::Obj(mut fields) = message(&d.view) else {
        unreachable!("message() is an object")
    };
    fields.push(("headers", d.headers.as_str().into()));
    if let Some(b) = body {
        fields.push(("content", content(b)));
    }
    fields.push((
        "attempts",
        J::Arr(read::parse(&d.steps).iter().map(attempt).collect()),
    ));
    J::Obj(fields)
}

/// `{"text":..,"html":..,"attachments":[{"name","type","size"}],"truncated":..}`.
fn content(b: &Body) -> J {
    let r = &b.readable;
    let opt = |s: &Option<String>| s.as_deref().map_or(J::Null, J::from);
    let attachments = r
        .attachments
        .iter()
        .map(|a| {
            J::obj(vec![
                ("name", a.name.as_str().into()),
                ("type", a.content_type.as_str().into()),
                ("size", a.size.into()),
            ])
        })
        .collect();
    J::obj(vec![
        ("text", opt(&r.text)),
        ("html", opt(&r.html)),
        ("attachments", J::Arr(attachments)),
        ("truncated", b.truncated.is_some().into()),
    ])
}

fn attempt(a: &Attempt) -> J {
    let steps = a
        .entries
        .iter()
        .map(|e| {
            let row = Row::of(e);
            J::obj(vec![
                ("at", row.at.into()),
                ("ms", J::Int(row.ms as i64)),
                ("ok", row.ok.into()),
                ("step", row.step.into()),
                ("text", row.text.into()),
            ])
        })
        .collect();
    J::obj(vec![
        ("label", a.label.as_str().into()),
        ("steps", J::Arr(steps)),
    ])
}

/// One line of an attempt as the API and the page show it; a line that was not read as a
/// step has only its text.
pub struct Row {
    /// `2026-11-23 07:37:00Z`, empty when unknown.
    pub at: String,
    pub ms: u128,
    pub ok: bool,
    /// `RCPT`, `DATA-DONE`, empty when unknown.
    pub step: &'static str,
    /// What was done and the reply: `RCPT TO:<b@x.test> -> 550 5.1.1 no such user` (without
    /// leading spaces, as the page has always shown it).
    pub text: String,
}

impl Row {
    pub fn of(entry: &Entry) -> Row {
        match entry {
            Entry::Step(s) => Row {
                at: s.at.iso(),
                ms: s.took.as_millis(),
                ok: s.ok,
                step: s.kind.name(),
                text: s.text().trim_start().to_string(),
            },
            Entry::Unread(line) => Row {
                at: String::new(),
                ms: 0,
                ok: true,
                step: "",
                text: line.clone(),
            },
        }
    }
}

/// A recipient's state in plain words.
pub fn explain(r: &RecipientView) -> String {
    let last = r.last_result.as_deref().unwrap_or("");
    let why = plain_reason(last);
    let wait = match &r.waiting {
        Some(Waiting::Paused { dest, .. }) => format!("waiting: {dest} is paused"),
        Some(Waiting::Throttled { dest, why, .. }) => {
            format!("waiting: {dest} is slowing us down ({why})")
        }
        Some(Waiting::Held { dest }) => {
            format!("waiting: {dest} is paused from the status page until resumed")
        }
        Some(Waiting::Busy {
            dest,
            max_connections,
        }) => format!("waiting: all {max_connections} connections to {dest} are in use"),
        None => String::new(),
    };
    let state = match r.state {
        Shown::Queued if !wait.is_empty() => wait,
        Shown::Queued => "waiting for its first attempt".into(),
        Shown::Deferred if !wait.is_empty() => format!("not delivered yet, {wait}: {why}"),
        Shown::Sending => "being sent now".into(),
        Shown::Held => "held: not tried until released".into(),
        // A finished message is listed without the reply (its page has it).
        Shown::Delivered if last.is_empty() => "delivered: the server accepted it".into(),
        Shown::Delivered => format!("delivered: the server accepted it ({last})"),
        Shown::Deferred => format!("not delivered yet, will try again: {why}"),
        Shown::Failed => match r.gave_up {
            Some(g @ (GiveUp::AttemptsUsedUp | GiveUp::Expired)) => {
                format!("failed, given up ({}): {why}", g.describe())
            }
            Some(GiveUp::Permanent) | None => format!("failed for good: {why}"),
        },
    };
    match r.notice_pending {
        true => format!("{state}; {NOTICE_PENDING}"),
        false => state,
    }
}

/// Said of a final recipient whose notice to the sender is not written yet.
pub const NOTICE_PENDING: &str =
    "the notice to the sender could not be written yet (is the spool full?); trying again";

/// What a reply or error means, for people.
pub fn plain_reason(last: &str) -> String {
    // A TLS requirement not met is already in plain words (`Outcome::tls_unmet_words`).
    if last.contains(" did not give it (") {
        return last.to_string();
    }
    let code = |p: &str| last.split(' ').nth(1).is_some_and(|c| c.starts_with(p));
    let meaning = if code("5.1.1") || code("5.1.10") {
        "the address does not exist"
    } else if code("5.1.2") || last.contains("NXDOMAIN") {
        "the domain does not exist"
    } else if code("4.2.2") || code("5.2.2") {
        "the mailbox is full"
    } else if code("5.7") {
        "the server refused us by policy (blocked or not allowed)"
    } else if code("5.3.4") || code("5.2.3") {
        "the message is too big for that server"
    } else if last.starts_with('4') {
        "the server asked us to try again later"
    } else if last.starts_with('5') {
        "the server refused it"
    } else if last.contains("refused") {
        "the server did not accept a connection"
    } else if last.contains("timed out") {
        "the server did not answer in time"
    } else {
        return last.to_string();
    };
    if last.is_empty() {
        meaning.into()
    } else {
        format!("{meaning} ({last})")
    }
}

/// `qksmtp show ID` through the API.
pub fn detail_text(d: &Detail, now: Timestamp) -> String {
    let mut out = listing::render_view(&d.view, now);
    out.push('\n');
    out.push_str(&d.headers);
    out.push('\n');
    if d.steps.is_empty() {
        out.push_str("no delivery attempt yet\n");
    } else {
        out.push_str(&d.steps);
    }
    out
}
