//! The scheduler's pace per destination (issue 22): a throttling reply slows the destination
//! to one connection and one message every `throttle_delay`, greylisting does not, and
//! `max_rate` spreads messages out. A fake clock, as in `tests`.

use super::tests::{env, ok, report, sched, t};
use super::*;
use crate::queue::snapshot::Waiting;
use crate::smtp::reply::{Enhanced, Reply};

fn rcpt(code: u16, e: (u8, u16, u16), text: &str) -> Outcome {
    let reply = Reply::new(code, Some(Enhanced::new(e.0, e.1, e.2)), text);
    Outcome::from_reply(StepKind::Rcpt, "mx.x.test [127.0.0.1]:25", &reply)
}

fn throttle_of(s: &Scheduler) -> Option<&Throttle> {
    s.dests
        .get(&Dest::Direct("x.test".into()))
        .and_then(|d| d.throttle.as_ref())
}

#[test]
fn a_throttling_reply_slows_the_destination_and_successes_bring_it_back() {
    let mut s = sched(
        "[domain:*]\nmax_connections = 2\nthrottle_delay = 100s\nretry_delay = 30s\n",
        8,
    );
    for n in 0..4 {
        s.add(env(n, &["r@x.test"]), t(0));
    }
    let (jobs, _) = s.poll(t(0));
    assert_eq!(jobs.len(), 2, "two connections before any throttling");
    let throttled = rcpt(421, (4, 7, 28), "unusual rate of unsolicited mail");
    s.finish(report(&jobs[0], &throttled), t(1));
    let th = throttle_of(&s).expect("throttled");
    assert_eq!((th.since, th.next), (t(1), t(101)));
    assert_eq!(th.why, "421 4.7.28 unusual rate of unsolicited mail");
    // A job that started before the throttling reply says nothing of recovery.
    s.finish(report(&jobs[1], &ok()), t(2));
    assert_eq!(throttle_of(&s).map(|t| t.delay.as_secs()), Some(100));
    assert!(s.poll(t(50)).0.is_empty(), "the pause between messages");
    let snap = s.snapshot(t(50), 10);
    let dest = snap.dests.iter().find(|d| d.name == "x.test").unwrap();
    let shown = dest
        .throttled
        .as_ref()
        .map(|t| (t.since, t.why.as_str(), t.next));
    assert_eq!(
        shown,
        Some((t(1), "421 4.7.28 unusual rate of unsolicited mail", t(102)))
    );
    let waits: Vec<_> = snap
        .messages
        .iter()
        .filter_map(|m| m.recipients[0].waiting.clone())
        .collect();
    let want = Waiting::Throttled {
        dest: "x.test".into(),
        next: t(102),
        why: "421 4.7.28 unusual rate of unsolicited mail".into(),
    };
    // The two waiting, and the throttled one whose retry came due at 31 s.
    assert_eq!(waits, vec![want; 3], "the waiting messages say why");
    assert!(
        s.poll(t(101)).0.is_empty(),
        "100 s after the last message ended"
    );
    assert_eq!(s.next_wakeup(), Some(t(102)));
    let (jobs, _) = s.poll(t(102));
    assert_eq!(jobs.len(), 1, "one connection while throttled");
    assert!(s.poll(t(102)).0.is_empty());
    // Throttled again: the pause doubles.
    s.finish(report(&jobs[0], &throttled), t(103));
    assert_eq!(
        throttle_of(&s).map(|t| (t.delay.as_secs(), t.next)),
        Some((200, t(303)))
    );
    let (jobs, _) = s.poll(t(303));
    s.finish(report(&jobs[0], &ok()), t(304));
    assert_eq!(
        throttle_of(&s).map(|t| t.delay.as_secs()),
        Some(100),
        "halved"
    );
    let (jobs, _) = s.poll(t(404));
    s.finish(report(&jobs[0], &ok()), t(405));
    assert_eq!(
        throttle_of(&s).map(|t| (t.delay.as_secs(), t.connections)),
        Some((0, 1))
    );
    let (jobs, _) = s.poll(t(405));
    assert_eq!(jobs.len(), 1, "no pause now, still one connection");
    s.finish(report(&jobs[0], &ok()), t(406));
    assert!(throttle_of(&s).is_none(), "back to max_connections = 2");
}

#[test]
fn greylisting_defers_the_recipient_and_the_next_message_goes_at_once() {
    let mut s = sched("[domain:*]\nmax_connections = 1\nretry_delay = 30s\n", 8);
    for n in 0..3 {
        s.add(env(n, &["r@x.test"]), t(0));
    }
    for (code, e, text) in [
        (451, (4, 7, 1), "greylisted, try again"),
        (450, (4, 2, 0), "Greylisted"),
        (451, (4, 7, 0), "temporary policy failure"),
    ] {
        let (jobs, _) = s.poll(t(0));
        assert_eq!(jobs.len(), 1, "{text}");
        s.finish(report(&jobs[0], &rcpt(code, e, text)), t(0));
        assert!(throttle_of(&s).is_none(), "{text}");
    }
    assert_eq!(s.next_wakeup(), Some(t(30)));
}

#[test]
fn throttle_on_is_per_destination_and_can_be_cleared() {
    let ini = "[domain:x.test]\nthrottle_on =\n[domain:y.test]\nthrottle_on = builtin, slow down\n";
    let mut s = sched(ini, 8);
    s.add(env(1, &["r@x.test"]), t(0));
    s.add(env(2, &["r@y.test"]), t(0));
    let (jobs, _) = s.poll(t(0));
    for job in &jobs {
        s.finish(report(job, &rcpt(451, (4, 3, 0), "please slow down")), t(1));
    }
    let throttled = |d: &str| s.dests[&Dest::Direct(d.into())].throttle.is_some();
    assert_eq!((throttled("x.test"), throttled("y.test")), (false, true));
}

#[test]
fn max_rate_spreads_messages_out() {
    let mut s = sched("[domain:*]\nmax_connections = 5\nmax_rate = 30/m\n", 8);
    for n in 0..3 {
        s.add(env(n, &["r@x.test"]), t(0));
    }
    let (jobs, _) = s.poll(t(0));
    assert_eq!(jobs.len(), 1, "30 a minute: one every 2 s");
    s.finish(report(&jobs[0], &ok()), t(0));
    assert!(s.poll(t(1)).0.is_empty());
    assert_eq!(s.next_wakeup(), Some(t(2)));
    let (jobs, _) = s.poll(t(2));
    assert_eq!(jobs.len(), 1);
    s.finish(report(&jobs[0], &ok()), t(2));
    s.flush(t(3));
    assert_eq!(s.poll(t(3)).0.len(), 1, "flush ends the wait");
}
