//! The scheduler core driven by a fake clock: limits, batching, round-robin, retries.

use super::*;
use crate::bounce::Notice;
use crate::queue::policy::tests::config;
use crate::queue::snapshot::{DestState, Waiting};
use crate::smtp::reply::{Enhanced, Reply};
use crate::smtp::{Address, MailParams, ReversePath};
use crate::spool::envelope::Recipient;

pub(crate) fn t(secs: u64) -> Timestamp {
    Timestamp::from_secs(1_000_000 + secs)
}

pub(crate) fn env(n: u32, rcpts: &[&str]) -> Envelope {
    Envelope {
        id: MessageId::from_parts(1_764_000_000_000_000 + u64::from(n), n),
        arrival: t(0),
        sender: ReversePath::Mailbox(Address::new("a", "sender.test")),
        client_ip: "127.0.0.1".parse().unwrap(),
        helo: "h".into(),
        auth_user: None,
        local_user: None,
        size: 10,
        params: MailParams::default(),
        recipients: rcpts
            .iter()
            .map(|a| {
                let (l, d) = a.split_once('@').unwrap();
                Recipient::new(Address::new(l, d), None, None)
            })
            .collect(),
        held: false,
        kind: crate::spool::envelope::MessageKind::Mail,
        subject: None,
    }
}

fn reply_outcome(code: u16, e: (u8, u16, u16)) -> Outcome {
    Outcome::from_reply(
        StepKind::Rcpt,
        "mx",
        &Reply::new(code, Some(Enhanced::new(e.0, e.1, e.2)), "x"),
    )
}

pub(crate) fn report(job: &Job, outcome: &Outcome) -> JobReport {
    JobReport {
        id: job.id,
        messages: job
            .messages
            .iter()
            .map(|m| MessageReport {
                outcomes: m.recipients.iter().map(|_| Some(outcome.clone())).collect(),
                record: Record::default(),
                dsn: false,
            })
            .collect(),
        run_complete: false,
    }
}

pub(crate) fn ok() -> Outcome {
    reply_outcome(250, (2, 0, 0))
}

pub(crate) fn sched(ini: &str, workers: usize) -> Scheduler {
    Scheduler::new(Arc::new(config(ini)), workers)
}

#[test]
fn recipients_at_one_destination_share_a_job_and_delivery_removes_the_message() {
    let mut s = sched("", 4);
    s.add(env(1, &["a@x.test", "b@x.test", "c@y.test"]), t(0));
    let (jobs, _) = s.poll(t(0));
    assert_eq!(jobs.len(), 2);
    let x = jobs
        .iter()
        .find(|j| j.dest == Dest::Direct("x.test".into()))
        .unwrap();
    assert_eq!(x.messages.len(), 1);
    assert_eq!(x.messages[0].recipients, vec![0, 1]);
    assert_eq!(x.messages[0].labels, vec!["direct 1 of 8", "direct 1 of 8"]);
    let effects = s.finish(report(x, &ok()), t(1));
    assert!(effects.iter().any(|e| matches!(e, Effect::Persist(env) if env.recipients[0].state == RecipientState::Delivered)));
    let y = jobs
        .iter()
        .find(|j| j.dest == Dest::Direct("y.test".into()))
        .unwrap();
    let effects = s.finish(report(y, &ok()), t(1));
    assert!(effects.iter().any(|e| matches!(e, Effect::Remove(_))));
    assert_eq!(
        effects
            .iter()
            .filter(|e| matches!(e, Effect::Log(_)))
            .count(),
        1
    );
    assert_eq!(s.message_count(), 0);
}

#[test]
fn max_connections_and_the_pause_after_a_run() {
    let mut s = sched(
        "[domain:*]\nmax_connections = 1\nmax_continuous = 2\ncontinuous_delay = 10s\n",
        4,
    );
    for n in 0..5 {
        s.add(env(n, &["r@x.test"]), t(0));
    }
    let (jobs, _) = s.poll(t(0));
    assert_eq!(jobs.len(), 1, "one connection at a time");
    assert_eq!(jobs[0].messages.len(), 1, "one message per job");
    assert!(s.poll(t(0)).0.is_empty());
    s.finish(report(&jobs[0], &ok()), t(1));
    let (jobs, _) = s.poll(t(1));
    assert_eq!(jobs.len(), 1, "no pause before the run is complete");
    // The worker says its connection carried max_continuous messages: pause.
    let mut rep = report(&jobs[0], &ok());
    rep.run_complete = true;
    s.finish(rep, t(2));
    assert!(s.poll(t(5)).0.is_empty(), "paused after a full run");
    assert_eq!(s.next_wakeup(), Some(t(12)));
    assert_eq!(s.poll(t(12)).0.len(), 1);
}

#[test]
fn destinations_are_served_round_robin_with_few_workers() {
    let mut s = sched(
        "[domain:*]\nmax_connections = 5\nmax_continuous = 1\ncontinuous_delay = 0\n",
        1,
    );
    for n in 0..3 {
        s.add(env(n, &["r@slow.test"]), t(0));
    }
    s.add(env(10, &["r@fast.test"]), t(0));
    let mut order = Vec::new();
    for step in 0..4 {
        let (jobs, _) = s.poll(t(step));
        assert_eq!(jobs.len(), 1, "one worker");
        order.push(jobs[0].dest.clone());
        s.finish(report(&jobs[0], &ok()), t(step));
    }
    assert_eq!(
        order[1],
        Dest::Direct("fast.test".into()),
        "fast.test is not stuck behind slow.test: {order:?}"
    );
}

#[test]
fn a_temporary_failure_retries_later_while_other_mail_flows() {
    let mut s = sched("[domain:*]\nretry_delay = 60\n", 4);
    s.add(env(1, &["tempfail@x.test"]), t(0));
    let (jobs, _) = s.poll(t(0));
    let effects = s.finish(report(&jobs[0], &reply_outcome(451, (4, 7, 1))), t(1));
    let persisted = effects.iter().find_map(|e| match e {
        Effect::Persist(env) => Some(env.clone()),
        _ => None,
    });
    let r = &persisted.unwrap().recipients[0];
    assert_eq!(
        (r.state, r.direct_tries, r.next_try),
        (RecipientState::Pending, 1, Some(t(61)))
    );
    s.add(env(2, &["other@x.test"]), t(2));
    let (jobs, _) = s.poll(t(2));
    assert_eq!(jobs.len(), 1);
    assert_eq!(
        jobs[0].messages[0].envelope.recipients[0].address.local,
        "other"
    );
    s.finish(report(&jobs[0], &ok()), t(3));
    assert_eq!(s.next_wakeup(), Some(t(61)));
    assert!(s.poll(t(60)).0.is_empty());
    let (jobs, _) = s.poll(t(61));
    assert_eq!(jobs[0].messages[0].labels, vec!["direct 2 of 8"]);
}

#[test]
fn a_permanent_failure_gives_up_at_once() {
    let mut s = sched("", 4);
    s.add(env(1, &["permfail@x.test", "ok@x.test"]), t(0));
    let (jobs, _) = s.poll(t(0));
    let mut rep = report(&jobs[0], &ok());
    rep.messages[0].outcomes[0] = Some(reply_outcome(550, (5, 1, 1)));
    let effects = s.finish(rep, t(1));
    let effects = write_notices(&mut s, effects, true, t(1));
    let gave_up = effects.iter().find_map(|e| match e {
        Effect::GaveUp { recipients, .. } => Some(recipients.clone()),
        _ => None,
    });
    let gave_up = gave_up.expect("a GaveUp effect");
    assert_eq!(gave_up.len(), 1);
    assert_eq!((gave_up[0].0, gave_up[0].2), (0, GiveUp::Permanent));
    assert!(effects.iter().any(|e| matches!(e, Effect::Remove(_))));
}

#[test]
fn not_attempted_recipients_are_requeued_without_counting() {
    let mut s = sched("", 1);
    s.add(env(1, &["a@x.test"]), t(0));
    let (jobs, _) = s.poll(t(0));
    let mut rep = report(&jobs[0], &ok());
    rep.messages[0].outcomes[0] = None;
    let effects = s.finish(rep, t(1));
    assert!(
        effects.iter().all(|e| !matches!(e, Effect::Log(_))),
        "nothing was attempted"
    );
    let (jobs, _) = s.poll(t(1));
    assert_eq!(
        jobs[0].messages[0].labels,
        vec!["direct 1 of 8"],
        "the attempt was not counted"
    );
}

#[test]
fn a_dead_destination_holds_its_other_mail_back() {
    let mut s = sched("[domain:*]\nmax_connections = 1\nretry_delay = 30\n", 4);
    s.add(env(1, &["a@down.test"]), t(0));
    let (jobs, _) = s.poll(t(0));
    s.add(env(2, &["b@down.test"]), t(0));
    let refused = Outcome::from_failure(
        "mx",
        &crate::transcript::Failure {
            step: StepKind::Connect,
            kind: crate::transcript::FailureKind::ConnectRefused,
        },
    );
    s.finish(report(&jobs[0], &refused), t(1));
    assert!(s.poll(t(2)).0.is_empty(), "down.test is paused");
    let state = s.snapshot(t(2), 0).dests[0].state(t(2));
    let why = crate::queue::snapshot::Pause::Down;
    assert_eq!(state, DestState::Paused { until: t(31), why });
    assert_eq!(state.why(), "nobody answered there");
    assert_eq!(s.poll(t(31)).0.len(), 1);
}

#[test]
fn deleting_a_message_in_flight_ignores_its_results() {
    let mut s = sched("", 4);
    s.add(env(1, &["a@x.test"]), t(0));
    let (jobs, _) = s.poll(t(0));
    let id = jobs[0].messages[0].envelope.id.clone();
    assert!(matches!(s.delete(&id), Some(Effect::Remove(_))));
    let effects = s.finish(report(&jobs[0], &ok()), t(1));
    assert!(effects.is_empty());
    assert_eq!(s.in_flight(), 0);
}

#[test]
fn retry_now_and_flush_make_waiting_mail_due() {
    let mut s = sched("[domain:*]\nretry_delay = 1h\nmax_retry_delay = 1h\n", 4);
    s.add(env(1, &["a@x.test"]), t(0));
    let (jobs, _) = s.poll(t(0));
    let id = jobs[0].messages[0].envelope.id.clone();
    s.finish(report(&jobs[0], &reply_outcome(451, (4, 0, 0))), t(1));
    assert!(s.poll(t(2)).0.is_empty());
    assert!(s.retry_now(&id, t(2)));
    assert_eq!(s.poll(t(2)).0.len(), 1);
    assert!(!s.retry_now(&MessageId::from_parts(1, 1), t(2)));
}

fn notices(effects: &[Effect]) -> Vec<&Notice> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Notify(n) => Some(n),
            _ => None,
        })
        .collect()
}

/// The engine's part: each notice written (or not), the core's answer after it.
fn write_notices(
    s: &mut Scheduler,
    effects: Vec<Effect>,
    written: bool,
    now: Timestamp,
) -> Vec<Effect> {
    let mut out = Vec::new();
    for e in effects {
        let answer = match &e {
            Effect::Notify(n) => s.noticed(n, written, now),
            _ => Vec::new(),
        };
        out.push(e);
        out.extend(answer);
    }
    out
}

fn with_notify(mut e: Envelope, notify: Option<crate::smtp::Notify>) -> Envelope {
    for r in &mut e.recipients {
        r.notify = notify;
    }
    e
}

const SUCCESS: Option<crate::smtp::Notify> = Some(crate::smtp::Notify::On {
    success: true,
    failure: true,
    delay: false,
});

#[test]
fn one_delay_notice_when_a_recipient_is_still_pending_after_delay_warning() {
    let ini =
        "[delivery]\ndelay_warning = 1h\n[domain:*]\nretry_delay = 2h\nmax_retry_delay = 2h\n";
    let mut s = sched(ini, 4);
    s.add(env(1, &["a@x.test", "b@x.test"]), t(0));
    s.add(
        with_notify(env(2, &["c@x.test"]), Some(crate::smtp::Notify::Never)),
        t(0),
    );
    let (jobs, _) = s.poll(t(0));
    for job in &jobs {
        s.finish(report(job, &reply_outcome(451, (4, 7, 1))), t(1));
    }
    assert_eq!(
        s.next_wakeup(),
        Some(t(3600)),
        "the warning comes before the retry"
    );
    assert!(notices(&s.poll(t(3599)).1).is_empty());
    let (_, effects) = s.poll(t(3600));
    let effects = write_notices(&mut s, effects, true, t(3600));
    let sent = notices(&effects);
    assert_eq!(
        sent.len(),
        1,
        "one notice for both recipients, none for NOTIFY=NEVER"
    );
    let n = sent[0];
    assert_eq!(n.kind(), bounce::NoticeKind::Delay);
    assert_eq!(n.recipients.len(), 2);
    assert!(n.recipients.iter().all(|r| r.action == Action::Delayed));
    assert_eq!(
        n.recipients[0].outcome.as_ref().map(|o| o.status),
        Some(crate::smtp::reply::Enhanced::new(4, 7, 1)),
        "the last attempt explains the delay"
    );
    assert_eq!(n.retry_until, Some(t(5 * 86_400)));
    let persisted = effects
        .iter()
        .any(|e| matches!(e, Effect::Persist(env) if env.recipients.iter().all(|r| r.warned)));
    assert!(persisted, "the warned flags are saved");
    assert_eq!(s.next_wakeup(), Some(t(7201)));
    assert!(
        notices(&s.poll(t(7201)).1).is_empty(),
        "only one delay notice"
    );
}

#[test]
fn delay_warnings_survive_a_restart_and_zero_turns_default_ones_off() {
    let mut warned = env(1, &["a@x.test"]);
    warned.recipients[0].warned = true;
    let mut s = sched("[delivery]\ndelay_warning = 1h\n", 1);
    s.add(warned, t(7200));
    assert!(
        notices(&s.poll(t(7200)).1).is_empty(),
        "already warned before the restart"
    );
    let mut s = sched("[delivery]\ndelay_warning = 0\n", 1);
    s.add(env(2, &["a@x.test"]), t(0));
    s.add(
        with_notify(
            env(3, &["b@y.test"]),
            Some(crate::smtp::Notify::On {
                success: false,
                failure: true,
                delay: true,
            }),
        ),
        t(0),
    );
    let (_, effects) = s.poll(t(4 * 3600));
    let sent = notices(&effects);
    assert_eq!(
        sent.len(),
        1,
        "explicit NOTIFY=DELAY still gets one (after 4h)"
    );
    assert_eq!(sent[0].envelope.id, env(3, &[]).id);
}

#[test]
fn notify_success_gives_a_relayed_receipt_only_when_the_next_hop_has_no_dsn() {
    for (dsn, receipts) in [(true, 0), (false, 1)] {
        let mut s = sched("", 1);
        let mut e = env(1, &["a@x.test", "b@x.test"]);
        e.recipients[0].notify = SUCCESS;
        s.add(e, t(0));
        let (jobs, _) = s.poll(t(0));
        let mut rep = report(&jobs[0], &ok());
        rep.messages[0].dsn = dsn;
        let effects = s.finish(rep, t(1));
        let effects = write_notices(&mut s, effects, true, t(1));
        let sent = notices(&effects);
        // With DSN at the next hop, its receipt is the one the sender gets (RFC 3461 5.2.2).
        assert_eq!(sent.len(), receipts, "dsn at the next hop: {dsn}");
        assert!(effects.iter().any(|e| matches!(e, Effect::Remove(_))));
        if receipts == 0 {
            continue;
        }
        assert_eq!(sent[0].kind(), bounce::NoticeKind::Receipt);
        assert_eq!(sent[0].recipients.len(), 1, "only the one that asked");
        assert_eq!(sent[0].recipients[0].action, Action::Relayed);
        let notify_at = effects.iter().position(|e| matches!(e, Effect::Notify(_)));
        let remove_at = effects.iter().position(|e| matches!(e, Effect::Remove(_)));
        assert!(notify_at < remove_at, "the notice comes before the removal");
    }
}

#[test]
fn failures_in_one_pass_make_one_bounce_and_a_null_sender_gets_none() {
    let mut s = sched("", 2);
    let mut e = env(1, &["a@x.test", "b@x.test", "c@x.test"]);
    e.recipients[2].notify = Some(crate::smtp::Notify::Never);
    s.add(e, t(0));
    let mut null = env(2, &["d@y.test"]);
    null.sender = ReversePath::Null;
    s.add(null, t(0));
    let (jobs, _) = s.poll(t(0));
    let mut all = Vec::new();
    for job in &jobs {
        all.extend(s.finish(report(job, &reply_outcome(550, (5, 1, 1))), t(1)));
    }
    let sent = notices(&all);
    assert_eq!(sent.len(), 1, "one bounce; none for <>");
    let idx: Vec<usize> = sent[0].recipients.iter().map(|r| r.index).collect();
    assert_eq!(idx, vec![0, 1], "NOTIFY=NEVER is left out");
    assert!(
        sent[0]
            .recipients
            .iter()
            .all(|r| r.why == Some(GiveUp::Permanent))
    );
    let gave_up = all
        .iter()
        .filter(|e| matches!(e, Effect::GaveUp { .. }))
        .count();
    assert_eq!(gave_up, 2, "every give-up is still logged");
}
#[test]
fn waiting_mail_is_spread_over_the_allowed_connections() {
    let mut s = sched("[domain:*]\nmax_connections = 4\nmax_continuous = 100\n", 8);
    for n in 0..8 {
        s.add(env(n, &["r@x.test"]), t(0));
    }
    let (jobs, _) = s.poll(t(0));
    let sizes: Vec<usize> = jobs.iter().map(|j| j.messages.len()).collect();
    assert_eq!(
        sizes,
        [1, 1, 1, 1],
        "one message per job, up to max_connections jobs"
    );
}

fn persisted(effects: &[Effect]) -> Vec<&Envelope> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Persist(env) => Some(env),
            _ => None,
        })
        .collect()
}

fn removed(effects: &[Effect]) -> bool {
    effects.iter().any(|e| matches!(e, Effect::Remove(_)))
}

#[test]
fn a_bounce_that_cannot_be_written_stays_owed_while_other_recipients_are_pending() {
    let mut s = sched("[domain:*]\nretry_delay = 1h\nmax_retry_delay = 1h\n", 2);
    s.add(env(1, &["a@x.test", "b@y.test"]), t(0));
    let id = env(1, &[]).id;
    let (jobs, _) = s.poll(t(0));
    let (x, y) = match jobs[0].dest == Dest::Direct("x.test".into()) {
        true => (&jobs[0], &jobs[1]),
        false => (&jobs[1], &jobs[0]),
    };
    // a@ fails for good while the disk is full: the bounce is asked for, not yet settled.
    let effects = s.finish(report(x, &reply_outcome(550, (5, 1, 1))), t(1));
    assert_eq!(notices(&effects).len(), 1);
    assert!(persisted(&effects).is_empty() && !removed(&effects));
    let effects = write_notices(&mut s, effects, false, t(1));
    let env_now = persisted(&effects)[0];
    assert_eq!(env_now.recipients[0].state, RecipientState::Failed);
    assert_eq!(
        env_now.recipients[0].owed,
        Some(Action::Failed),
        "saved as owed"
    );
    let snap = s.snapshot(t(1), 10);
    assert!(
        snap.messages[0].recipients[0].notice_pending,
        "shown as pending"
    );
    // Tried again with a backoff: 5 s, then 10 s.
    assert_eq!(s.next_wakeup(), Some(t(1).plus(owed::OWED_FIRST)));
    assert!(notices(&s.poll(t(5)).1).is_empty());
    let (_, effects) = s.poll(t(6));
    assert_eq!(notices(&effects).len(), 1);
    write_notices(&mut s, effects, false, t(6));
    assert_eq!(s.next_wakeup(), Some(t(16)));
    // b@ is delivered meanwhile: the notice is asked for again (still only a@); written now.
    let effects = s.finish(report(y, &ok()), t(7));
    let sent = notices(&effects);
    assert_eq!(sent.len(), 1);
    let idx: Vec<usize> = sent[0].recipients.iter().map(|r| r.index).collect();
    assert_eq!(idx, [0]);
    assert_eq!(sent[0].recipients[0].why, Some(GiveUp::Permanent));
    assert!(sent[0].recipients[0].outcome.is_some(), "the 550 is quoted");
    let effects = write_notices(&mut s, effects, true, t(7));
    assert!(removed(&effects), "finished once the bounce is written");
    assert_eq!(s.message_count(), 0);
    assert!(
        notices(&s.poll(t(16)).1).is_empty(),
        "the old timer is gone"
    );
    assert!(!s.contains(&id));
}

#[test]
fn an_owed_notice_read_back_at_start_is_written_and_retry_makes_it_due() {
    let mut e = env(1, &["a@x.test", "b@x.test"]);
    e.recipients[0].state = RecipientState::Failed;
    e.recipients[0].owed = Some(Action::Failed);
    e.recipients[0].last_result = Some("550 5.1.1 no".into());
    e.recipients[1].state = RecipientState::Delivered;
    let id = e.id.clone();
    let mut s = sched("", 1);
    s.add(e, t(0));
    let (jobs, effects) = s.poll(t(0));
    assert!(jobs.is_empty());
    let sent = notices(&effects);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].kind(), bounce::NoticeKind::Bounce);
    assert_eq!(
        sent[0].recipients[0].outcome, None,
        "quotes the last result"
    );
    let effects = write_notices(&mut s, effects, false, t(0));
    assert!(!removed(&effects));
    assert_eq!(s.next_wakeup(), Some(t(5)));
    assert!(s.retry_now(&id, t(1)), "retry ID");
    let (_, effects) = s.poll(t(1));
    assert_eq!(notices(&effects).len(), 1, "due at once");
    let effects = write_notices(&mut s, effects, true, t(1));
    assert!(removed(&effects));
    assert_eq!(s.next_wakeup(), None);
}

#[test]
fn a_delay_notice_that_cannot_be_written_falls_due_again() {
    let ini =
        "[delivery]\ndelay_warning = 1h\n[domain:*]\nretry_delay = 2h\nmax_retry_delay = 2h\n";
    let mut s = sched(ini, 1);
    s.add(env(1, &["a@x.test"]), t(0));
    let (jobs, _) = s.poll(t(0));
    s.finish(report(&jobs[0], &reply_outcome(451, (4, 7, 1))), t(1));
    let (_, effects) = s.poll(t(3600));
    let effects = write_notices(&mut s, effects, false, t(3600));
    assert!(persisted(&effects).iter().all(|e| !e.recipients[0].warned));
    let (_, effects) = s.poll(t(3605));
    assert_eq!(notices(&effects).len(), 1, "again after the backoff");
    let effects = write_notices(&mut s, effects, true, t(3605));
    assert!(persisted(&effects)[0].recipients[0].warned);
    assert!(notices(&s.poll(t(3700)).1).is_empty());
}

#[test]
fn the_owed_notice_backoff_doubles_up_to_a_cap() {
    use std::time::Duration;
    let cases = [
        (1, 5),
        (2, 10),
        (3, 20),
        (6, 160),
        (7, 300),
        (40, 300),
        (u32::MAX, 300),
    ];
    for (failures, secs) in cases {
        assert_eq!(
            owed::owed_backoff(failures),
            Duration::from_secs(secs),
            "{failures}"
        );
    }
}

#[test]
fn why_a_recipient_was_given_up_survives_a_restart_with_its_bounce_owed() {
    let ini = "[domain:*]\ndirect_attempts = 1\n";
    let mut s = sched(ini, 1);
    s.add(env(1, &["a@x.test"]), t(0));
    let (jobs, _) = s.poll(t(0));
    let effects = s.finish(report(&jobs[0], &reply_outcome(452, (4, 2, 2))), t(1));
    assert_eq!(
        notices(&effects)[0].recipients[0].why,
        Some(GiveUp::AttemptsUsedUp)
    );
    // The bounce cannot be written; the envelope saved says why and with which status.
    let effects = write_notices(&mut s, effects, false, t(1));
    let saved = persisted(&effects)[0];
    let r = &saved.recipients[0];
    assert_eq!(r.gave_up, Some(GiveUp::AttemptsUsedUp));
    assert_eq!(r.last_status, Some(Enhanced::new(4, 2, 2)));
    assert_eq!(r.last_attempt, Some(t(1)), "when it was last tried");
    // Read back by the next run: the rebuilt bounce says the same.
    let text = crate::spool::envelope::render(saved);
    let back = crate::spool::envelope::parse(&text).unwrap();
    let mut s = sched(ini, 1);
    s.add(back, t(100));
    let (_, effects) = s.poll(t(100));
    let sent = notices(&effects);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].recipients[0].outcome, None, "not known this run");
    assert_eq!(sent[0].recipients[0].why, Some(GiveUp::AttemptsUsedUp));
}

#[test]
fn a_reload_reroutes_waiting_mail_and_a_job_to_a_removed_relay_ends_safely() {
    let relays = "[domain:*]\ndirect_attempts = 0\nrelay_attempts = 3\n\
                  [relay:a]\nhost = a.relay.test\nmax_connections = 1\n";
    let mut s = sched(relays, 4);
    for n in 0..3 {
        s.add(env(n, &["r@x.test"]), t(0));
    }
    let (jobs, _) = s.poll(t(0));
    assert_eq!(
        jobs.len(),
        1,
        "relay:a takes one connection; two wait for it"
    );
    let in_flight = jobs[0].clone();
    assert_eq!(in_flight.dest, Dest::Relay(0));
    assert!(Arc::ptr_eq(&in_flight.config, &s.config));
    // The reload: the relay is gone, x.test goes direct now.
    let new = Arc::new(config("[domain:*]\nmax_connections = 5\n"));
    s.set_config(new.clone());
    let (jobs, _) = s.poll(t(1));
    assert_eq!(jobs.len(), 2, "the waiting mail is routed again at once");
    for job in &jobs {
        assert_eq!(job.dest, Dest::Direct("x.test".into()));
        assert_eq!(job.messages[0].labels, vec!["direct 1 of 8"]);
        assert!(Arc::ptr_eq(&job.config, &new));
    }
    // The job in flight to the removed relay ends under the new rules without a panic; its
    // relay attempt is counted and the recipient goes direct next.
    let effects = s.finish(report(&in_flight, &reply_outcome(451, (4, 7, 1))), t(2));
    let env = persisted(&effects)[0].clone();
    assert_eq!(
        (env.recipients[0].relay_tries, env.recipients[0].state),
        (1, RecipientState::Pending)
    );
}

#[test]
fn a_reload_keeps_retry_times_and_attempt_counts() {
    let mut s = sched("[domain:*]\nretry_delay = 60\n", 4);
    s.add(env(1, &["tempfail@x.test"]), t(0));
    let (jobs, _) = s.poll(t(0));
    s.finish(report(&jobs[0], &reply_outcome(451, (4, 7, 1))), t(1));
    s.set_config(Arc::new(config(
        "[domain:*]\nretry_delay = 5\nmax_connections = 9\n",
    )));
    assert_eq!(
        s.next_wakeup(),
        Some(t(61)),
        "the retry time set before stays"
    );
    assert!(s.poll(t(60)).0.is_empty());
    let (jobs, _) = s.poll(t(61));
    assert_eq!(jobs[0].messages[0].labels, vec!["direct 2 of 8"]);
}

#[test]
fn a_destination_paused_by_hand_waits_until_resumed_and_a_flush_does_not_resume_it() {
    let mut s = sched("", 4);
    assert!(s.hold_dest("X.test.", true));
    for bad in ["", "a b.test", "relay:nowhere"] {
        assert!(!s.hold_dest(bad, true), "{bad:?}");
    }
    let e = env(1, &["a@x.test", "b@y.test"]);
    let id = e.id.clone();
    s.add(e, t(0));
    let (jobs, _) = s.poll(t(0));
    let dests: Vec<&Dest> = jobs.iter().map(|j| &j.dest).collect();
    assert_eq!(dests, [&Dest::Direct("y.test".into())], "only the open one");
    let view = s.message_view(&id, t(1)).unwrap();
    let held = Waiting::Held {
        dest: "x.test".into(),
    };
    assert_eq!(view.recipients[0].waiting, Some(held));
    let snap = s.snapshot(t(1), 0);
    let x = snap.dests.iter().find(|d| d.name == "x.test").unwrap();
    assert_eq!(x.state(t(1)), DestState::Held);
    s.flush(t(2));
    assert!(s.poll(t(2)).0.is_empty(), "a flush does not resume it");
    assert!(s.hold_dest("x.test", false));
    let (jobs, _) = s.poll(t(3));
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0].dest, Dest::Direct("x.test".into()));
    let snap = s.snapshot(t(3), 0);
    let x = snap.dests.iter().find(|d| d.name == "x.test").unwrap();
    assert_eq!(x.state(t(3)), DestState::Open);
}

/// The spool as the cold path sees it: envelope files by ID, and how many were read back.
#[derive(Clone, Default)]
struct Files {
    files: Arc<std::sync::Mutex<HashMap<MessageId, Envelope>>>,
    reads: Arc<std::sync::atomic::AtomicUsize>,
}

impl Envelopes for Files {
    fn load(&self, id: &MessageId) -> Result<Envelope, String> {
        self.reads.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let files = self.files.lock().unwrap();
        files
            .get(id)
            .cloned()
            .ok_or_else(|| format!("{id}: no file"))
    }
}

impl Files {
    fn reads(&self) -> usize {
        self.reads.load(std::sync::atomic::Ordering::SeqCst)
    }
    fn write(&self, env: &Envelope) {
        self.files
            .lock()
            .unwrap()
            .insert(env.id.clone(), env.clone());
    }
    /// The engine's part: what the effects persist or remove.
    fn apply(&self, effects: &[Effect]) {
        for e in effects {
            match e {
                Effect::Persist(env) => self.write(env),
                Effect::Remove(id) => drop(self.files.lock().unwrap().remove(id)),
                _ => {}
            }
        }
    }
}

/// With no envelope kept hot, a queued message is read back from its file for its job, its
/// retry, its page view and its delay notice; what only the scheduler knows (a retry made
/// due now, attempts counted) wins over the file.
#[test]
fn a_cold_message_is_read_back_whenever_its_envelope_is_needed() {
    let ini =
        "[delivery]\ndelay_warning = 1h\n[domain:*]\nretry_delay = 2h\nmax_retry_delay = 2h\n";
    let files = Files::default();
    let mut s = sched(ini, 2).with_envelopes(Box::new(files.clone()), 0);
    let e = env(1, &["a@x.test"]);
    let id = e.id.clone();
    files.write(&e);
    s.add(e, t(0));
    let (jobs, _) = s.poll(t(0));
    assert_eq!(
        files.reads(),
        1,
        "gone cold before its job, read back for it"
    );
    assert_eq!(
        jobs[0].messages[0].envelope.recipients[0].address.local,
        "a"
    );
    let effects = s.finish(report(&jobs[0], &reply_outcome(451, (4, 7, 1))), t(1));
    assert_eq!(files.reads(), 1, "a message in a job stays hot");
    files.apply(&effects);
    assert!(s.poll(t(2)).0.is_empty());
    let view = s.message_view(&id, t(2)).unwrap();
    assert_eq!(files.reads(), 2);
    let r = &view.recipients[0];
    assert_eq!((r.direct_tries, r.next_try), (1, Some(t(7201))));
    assert!(r.last_result.as_deref().unwrap().starts_with("451 4.7.1"));
    // Due now in memory only: the file still says t(7201).
    assert!(s.retry_now(&id, t(3)));
    let (jobs, _) = s.poll(t(3));
    let sent = &jobs[0].messages[0];
    assert_eq!(sent.envelope.recipients[0].next_try, Some(t(3)));
    assert_eq!(sent.labels, vec!["direct 2 of 8"]);
    let effects = s.finish(report(&jobs[0], &reply_outcome(451, (4, 7, 1))), t(4));
    files.apply(&effects);
    s.poll(t(5));
    let (_, effects) = s.poll(t(3600));
    let sent = notices(&effects);
    assert_eq!(sent.len(), 1, "the delay notice of a cold message");
    assert_eq!(sent[0].envelope.recipients[0].address.local, "a");
    assert!(sent[0].envelope.recipients[0].warned);
    let effects = write_notices(&mut s, effects, true, t(3600));
    assert!(persisted(&effects)[0].recipients[0].warned);
}

/// An envelope that cannot be read back (a file gone for a while) loses nothing: its
/// recipient waits and is handed out once the file reads again.
#[test]
fn an_unreadable_envelope_waits_and_is_tried_again() {
    let files = Files::default();
    let mut s = sched("", 2).with_envelopes(Box::new(files.clone()), 0);
    let e = env(1, &["a@x.test"]);
    s.add(e.clone(), t(0));
    assert!(s.poll(t(0)).0.is_empty(), "no file to read");
    assert_eq!(s.in_flight(), 0);
    assert_eq!(s.next_wakeup(), Some(t(60)));
    files.write(&e);
    let (jobs, _) = s.poll(t(60));
    assert_eq!(jobs.len(), 1);
    let effects = s.finish(report(&jobs[0], &ok()), t(61));
    assert!(removed(&effects));
    assert_eq!(s.message_count(), 0);
    assert_eq!(s.domains.len(), 0, "its domain is dropped with it");
}

/// Recipients at one domain share one interned name; the last one to leave drops it, and
/// a queue of many messages keeps at most `hot_max` whole envelopes.
#[test]
fn domains_are_shared_and_only_hot_max_envelopes_stay_in_memory() {
    let files = Files::default();
    let mut s = sched("", 0).with_envelopes(Box::new(files.clone()), 3);
    // The scheduler thread's text index of the queue, kept beside the scheduler.
    let mut index = crate::queue::index::Index::default();
    for n in 1..=10 {
        let e = env(
            n,
            &[&format!("r{n}@x.test"), &format!("r{n}@y{}.test", n % 2)],
        );
        files.write(&e);
        index.add(&e);
        s.add(e, t(0));
    }
    assert_eq!(s.domains.len(), 3);
    let (jobs, _) = s.poll(t(0));
    let hot = s.messages.values().filter(|m| m.hot.is_some()).count();
    assert_eq!(hot, 3 + jobs.len(), "and the one read back for its job");
    let before = files.reads();
    let (total, ids) = s.matching(
        &crate::queue::find::Query::new("", None, Some("y1.test"), 0),
        10,
    );
    assert_eq!(total, 5);
    assert_eq!(files.reads(), before, "a destination filter reads no file");
    assert_eq!(ids[0], &env(9, &[]).id);
    let text = crate::queue::find::Query::new("r7@", None, None, 0);
    assert!(
        s.messages[&env(7, &[]).id].hot.is_none(),
        "a cold message's addresses are not in the scheduler's memory"
    );
    let (total, ids) = s.matching_among(index.find(&text.text), &text, 10);
    assert_eq!(
        (total, ids),
        (1, vec![&env(7, &[]).id]),
        "the index finds them"
    );
    assert_eq!(
        files.reads(),
        before,
        "and nothing is read back on the scheduler's thread"
    );
    let hot = crate::queue::find::Query::new("r10@", None, None, 0);
    assert_eq!(
        s.matching_among(index.find(&hot.text), &hot, 10).0,
        1,
        "a hot message's are"
    );
    let filtered = crate::queue::find::Query::new("r7@", None, Some("y0.test"), 0);
    assert_eq!(
        s.matching_among(index.find(&filtered.text), &filtered, 10)
            .0,
        0,
        "the other filters on the compact record"
    );
    assert_eq!(files.reads(), before);
    for n in 1..=10 {
        s.delete(&env(n, &[]).id);
    }
    assert_eq!(s.domains.len(), 0);
}

/// A bulk order's selectors are matched on the compact records of cold messages: only
/// `--from` an address or a domain (not in the record) reads envelopes back, and only for
/// the messages the other selectors took.
#[test]
fn bulk_orders_select_cold_messages_from_their_compact_records() {
    use crate::queue::select::{Bulk, Selector, Verb};
    let files = Files::default();
    let mut s = sched("", 0).with_envelopes(Box::new(files.clone()), 0);
    for n in 1..=6 {
        let mut e = env(n, &[&format!("r{n}@d{}.test", n % 2)]);
        if n == 5 {
            e.sender = ReversePath::Null;
        }
        e.arrival = t(u64::from(n) * 100);
        files.write(&e);
        s.add(e, t(0));
    }
    s.cool_down();
    assert_eq!(s.hold(&env(3, &[]).id).map(|_| ()), Some(()));
    s.cool_down();
    let reads = files.reads();
    let bulk = |verb, pairs: &[(&str, &str)]| {
        let mut selector = Selector::default();
        for (k, v) in pairs {
            selector.set(k, v).unwrap();
        }
        Bulk {
            verb,
            selector,
            dry_run: true,
        }
    };
    let ids = |ns: &[u32]| -> Vec<MessageId> { ns.iter().map(|&n| env(n, &[]).id).collect() };
    let now = t(1000);
    let table: Vec<(Bulk, Vec<MessageId>)> = vec![
        (
            bulk(Verb::Delete, &[("all", "yes")]),
            ids(&[1, 2, 3, 4, 5, 6]),
        ),
        (bulk(Verb::Retry, &[("all", "yes")]), ids(&[1, 2, 4, 5, 6])),
        (bulk(Verb::Release, &[("all", "yes")]), ids(&[3])),
        (bulk(Verb::Hold, &[("domain", "D1.test")]), ids(&[1, 5])),
        (
            bulk(Verb::Delete, &[("older-than", "650s")]),
            ids(&[1, 2, 3]),
        ),
        (
            bulk(Verb::Delete, &[("arrived_by", "1000400")]),
            ids(&[1, 2, 3, 4]),
        ),
        (bulk(Verb::Delete, &[("from", "<>")]), ids(&[5])),
    ];
    for (order, want) in &table {
        assert_eq!(&s.select(order, now), want, "{order:?}");
    }
    assert_eq!(files.reads(), reads, "nothing read back for these");
    let from = bulk(
        Verb::Delete,
        &[("from", "a@sender.test"), ("domain", "d0.test")],
    );
    assert_eq!(s.select(&from, now), ids(&[2, 4, 6]));
    assert_eq!(
        files.reads(),
        reads + 3,
        "only the messages at d0.test are read"
    );
    let mut search = bulk(Verb::Delete, &[]);
    search.selector.search = Some(
        crate::queue::find::Query::new("", Some(crate::queue::snapshot::Shown::Held), None, 0)
            .arrived(Some(t(200)), None),
    );
    assert_eq!(s.select(&search, now), ids(&[3]), "the page's filters");
}

/// How a row of the pruning table leaves `x.test`.
#[derive(Clone, Copy, Debug)]
enum Used {
    Delivered,
    Throttled,
    InFlight,
    PausedByHand,
    ResumedByHand,
}

/// A scheduler whose destination `x.test` was used as `how` at t(0)..t(1).
fn used(how: Used) -> Scheduler {
    let mut s = sched("", 4);
    let outcome = match how {
        Used::PausedByHand | Used::ResumedByHand => {
            assert!(s.hold_dest("x.test", true));
            assert!(matches!(how, Used::PausedByHand) || s.hold_dest("x.test", false));
            return s;
        }
        Used::Delivered | Used::InFlight => ok(),
        Used::Throttled => reply_outcome(421, (4, 7, 0)),
    };
    s.add(env(1, &["a@x.test"]), t(0));
    let (jobs, _) = s.poll(t(0));
    if !matches!(how, Used::InFlight) {
        s.finish(report(&jobs[0], &outcome), t(1));
    }
    s
}

#[test]
fn idle_destinations_are_forgotten_after_the_charts_hour_and_those_that_matter_kept() {
    let x = Dest::Direct("x.test".into());
    let rows = [
        (Used::Delivered, 3_000, true),
        (Used::Delivered, 3_700, false),
        (Used::Throttled, 7_200, true),
        (Used::InFlight, 7_200, true),
        (Used::PausedByHand, 7_200, true),
        (Used::ResumedByHand, 60, false),
    ];
    for (how, at, kept) in rows {
        let mut s = used(how);
        let dropped = s.prune(t(at));
        assert_eq!(s.dests.contains_key(&x), kept, "{how:?} at {at}");
        assert_eq!(dropped.is_empty(), kept, "{how:?} at {at}");
        let listed = s
            .snapshot(t(at), 0)
            .dests
            .iter()
            .any(|d| d.name == "x.test");
        assert_eq!(listed, kept, "{how:?} at {at}: on the page");
    }
}

#[test]
fn mail_waiting_for_a_forgotten_destination_finds_it_again_when_due() {
    let mut s = sched("[domain:*]\nretry_delay = 2h\nmax_retry_delay = 2h\n", 4);
    s.add(env(1, &["a@x.test"]), t(0));
    let (jobs, _) = s.poll(t(0));
    s.finish(report(&jobs[0], &reply_outcome(451, (4, 7, 1))), t(1));
    assert!(s.prune(t(10)).is_empty(), "used within the hour");
    assert!(s.prune(t(3_700)).len() == 1, "an hour later: forgotten");
    s.add(env(2, &["b@y.test"]), t(3_701));
    s.poll(t(3_701));
    assert!(
        s.prune(t(3_710)).is_empty(),
        "not looked at again within a minute"
    );
    let (jobs, _) = s.poll(t(7_201));
    assert_eq!(jobs.len(), 1, "the retry goes out");
    assert_eq!(jobs[0].dest, Dest::Direct("x.test".into()));
}
