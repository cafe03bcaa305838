//! Table tests of the QK rules: stages, limits, backoff and what each outcome leads to.

use super::*;
use crate::smtp::Address;
use crate::smtp::reply::{Enhanced, Reply};
use crate::spool::envelope::{MessageKind, Recipient};
use crate::transcript::StepKind;

pub(crate) fn config(ini: &str) -> Config {
    let (config, _) =
        crate::config::load::parse(ini, std::path::Path::new("/q/qksmtp.ini"), "host.test")
            .unwrap_or_else(|e| panic!("{e:?}"));
    config
}

const RULES: &str = "[domain:*]\ndirect_attempts = 2\nrelay_attempts = 3\nretry_delay = 60\nretry_backoff = 2\nmax_retry_delay = 200\n\
                     [domain:direct.test]\nrelay_attempts = 0\ndirect_attempts = 3\n\
                     [relay:first]\nhost = relay1.test\nretry_delay = 30\n[relay:second]\nhost = relay2.test\n";

fn outcome(verdict: Verdict) -> Outcome {
    let reply = match verdict {
        Verdict::Delivered => Reply::new(250, Some(Enhanced::new(2, 0, 0)), "ok"),
        Verdict::Temporary => Reply::new(451, Some(Enhanced::new(4, 7, 1)), "later"),
        Verdict::Permanent => Reply::new(550, Some(Enhanced::new(5, 1, 1)), "no such user"),
        Verdict::Policy => Reply::new(550, Some(Enhanced::new(5, 7, 1)), "blocked"),
    };
    Outcome::from_reply(StepKind::Rcpt, "mx", &reply)
}

fn rcpt(domain: &str) -> Recipient {
    Recipient::new(Address::new("u", domain), None, None)
}

#[test]
fn stages_go_direct_then_relays_in_file_order() {
    let c = config(RULES);
    let mut r = rcpt("example.test");
    let t0 = Timestamp::from_secs(1000);
    let mut seen = Vec::new();
    let mut now = t0;
    while let Some(dest) = next_dest(&c, &r) {
        seen.push((dest.clone(), attempt_label(&c, &r, &dest)));
        match after_attempt(
            &c,
            &mut r,
            &dest,
            &outcome(Verdict::Temporary),
            now,
            t0,
            MessageKind::Mail,
        ) {
            Progress::RetryAt(at) => now = at,
            Progress::Failed(why) => {
                assert_eq!(why, GiveUp::AttemptsUsedUp);
                break;
            }
            Progress::Delivered => unreachable!(),
        }
    }
    let want = [
        (Dest::Direct("example.test".into()), "direct 1 of 2"),
        (Dest::Direct("example.test".into()), "direct 2 of 2"),
        (Dest::Relay(0), "relay 1 of 3"),
        (Dest::Relay(1), "relay 2 of 3"),
        (Dest::Relay(0), "relay 3 of 3"),
    ];
    let got: Vec<(Dest, &str)> = seen.iter().map(|(d, l)| (d.clone(), l.as_str())).collect();
    assert_eq!(got, want);
}

#[test]
fn retry_times_back_off_and_the_relay_stage_starts_at_once() {
    let c = config(RULES);
    let mut r = rcpt("Example.TEST");
    let t0 = Timestamp::from_secs(1000);
    let d = Dest::Direct("example.test".into());
    assert_eq!(
        after_attempt(
            &c,
            &mut r,
            &d,
            &outcome(Verdict::Temporary),
            t0,
            t0,
            MessageKind::Mail
        ),
        Progress::RetryAt(Timestamp::from_secs(1060))
    );
    let t1 = Timestamp::from_secs(1060);
    assert_eq!(
        after_attempt(
            &c,
            &mut r,
            &d,
            &outcome(Verdict::Temporary),
            t1,
            t0,
            MessageKind::Mail
        ),
        Progress::RetryAt(t1),
        "relay stage now"
    );
    let t2 = Timestamp::from_secs(1070);
    let relay = next_dest(&c, &r).unwrap();
    assert_eq!(
        after_attempt(
            &c,
            &mut r,
            &relay,
            &outcome(Verdict::Temporary),
            t2,
            t0,
            MessageKind::Mail
        ),
        Progress::RetryAt(Timestamp::from_secs(1100))
    );
}

#[test]
fn backoff_is_capped() {
    let l = Limits {
        max_connections: 1,
        max_continuous: 1,
        continuous_delay: Duration::ZERO,
        retry_delay: Duration::from_secs(60),
        retry_backoff: 2.0,
        max_retry_delay: Duration::from_secs(200),
        max_rcpt_per_transaction: 100,
        throttle_delay: Duration::from_secs(300),
        rate_spacing: None,
    };
    let got: Vec<u64> = (1..=5).map(|n| retry_delay(&l, n).as_secs()).collect();
    assert_eq!(got, [60, 120, 200, 200, 200]);
}

#[test]
fn verdicts_table() {
    let c = config(RULES);
    let t = Timestamp::from_secs(5000);
    let direct = Dest::Direct("example.test".into());
    let cases = [
        ("example.test", Verdict::Delivered, Progress::Delivered),
        (
            "example.test",
            Verdict::Permanent,
            Progress::Failed(GiveUp::Permanent),
        ),
        ("example.test", Verdict::Policy, Progress::RetryAt(t)),
        (
            "direct.test",
            Verdict::Policy,
            Progress::Failed(GiveUp::Permanent),
        ),
    ];
    for (domain, verdict, want) in cases {
        let mut r = rcpt(domain);
        let dest = next_dest(&c, &r).unwrap();
        assert_eq!(
            after_attempt(
                &c,
                &mut r,
                &dest,
                &outcome(verdict),
                t,
                t,
                MessageKind::Mail
            ),
            want,
            "{domain} {verdict:?}"
        );
    }
    // After a policy refusal the next attempt goes to the first relay.
    let mut r = rcpt("example.test");
    after_attempt(
        &c,
        &mut r,
        &direct,
        &outcome(Verdict::Policy),
        t,
        t,
        MessageKind::Mail,
    );
    assert_eq!(next_dest(&c, &r), Some(Dest::Relay(0)));
}

#[test]
fn lifetime_expiry_ends_retries() {
    let c = config("[delivery]\nmax_queue_lifetime = 1h\n");
    let mut r = rcpt("example.test");
    let arrival = Timestamp::from_secs(0);
    let late = Timestamp::from_secs(3600);
    let dest = next_dest(&c, &r).unwrap();
    assert_eq!(
        after_attempt(
            &c,
            &mut r,
            &dest,
            &outcome(Verdict::Temporary),
            late,
            arrival,
            MessageKind::Mail
        ),
        Progress::Failed(GiveUp::Expired)
    );
}

#[test]
fn notices_expire_after_bounce_lifetime() {
    let c = config("[delivery]\nmax_queue_lifetime = 5h\nbounce_lifetime = 1h\n");
    let arrival = Timestamp::from_secs(0);
    let late = Timestamp::from_secs(3600);
    for (kind, want) in [(MessageKind::Mail, false), (MessageKind::Bounce, true)] {
        let mut r = rcpt("example.test");
        let dest = next_dest(&c, &r).unwrap();
        let p = after_attempt(
            &c,
            &mut r,
            &dest,
            &outcome(Verdict::Temporary),
            late,
            arrival,
            kind,
        );
        assert_eq!(
            p == Progress::Failed(GiveUp::Expired),
            want,
            "{kind:?}: {p:?}"
        );
    }
    assert_eq!(lifetime(&c, MessageKind::Bounce), Duration::from_secs(3600));
}

#[test]
fn delay_warning_follows_notify_and_the_setting() {
    let on = |success, failure, delay| {
        Some(Notify::On {
            success,
            failure,
            delay,
        })
    };
    let h = |n: u64| Some(Duration::from_secs(n * 3600));
    let default = config("");
    let off = config("[delivery]\ndelay_warning = 0\n");
    let cases = [
        (&default, None, h(4)),
        (&off, None, None),
        (&default, Some(Notify::Never), None),
        (&default, on(true, true, false), None),
        (&default, on(false, false, true), h(4)),
        (&off, on(false, true, true), h(4)),
    ];
    for (c, notify, want) in cases {
        assert_eq!(delay_warning(c, notify), want, "{notify:?}");
    }
}
