use super::*;

type Pairs<'a> = Vec<(&'a str, &'a str)>;
type Pick<'a> = &'a [(&'a str, &'a str)];
use crate::queue::scheduler::tests::{env, t};
use crate::queue::snapshot::Shown;

fn sel(pairs: &[(&str, &str)]) -> Result<Selector, SelectError> {
    let mut s = Selector::default();
    for (k, v) in pairs {
        s.set(k, v)?;
    }
    s.check().map(|()| s)
}

#[test]
fn selectors_are_read_and_checked() {
    let two_days = Duration::from_secs(2 * 86_400);
    // (pairs, the selector or the error)
    let table: Vec<(Pairs, Result<Selector, SelectError>)> = vec![
        (
            vec![("all", "yes")],
            Ok(Selector {
                all: true,
                ..Selector::default()
            }),
        ),
        (
            vec![("domain", "Y.Test."), ("older-than", "2d")],
            Ok(Selector {
                domain: Some("y.test".into()),
                older_than: Some(two_days),
                ..Selector::default()
            }),
        ),
        (
            vec![("from", "<>")],
            Ok(Selector {
                from: Some(From::Null),
                ..Selector::default()
            }),
        ),
        (
            vec![("from", "@News.test")],
            Ok(Selector {
                from: Some(From::Domain("news.test".into())),
                ..Selector::default()
            }),
        ),
        (
            vec![("from", "<Bob@X.test>"), ("arrived_by", "1000")],
            Ok(Selector {
                from: Some(From::Address("bob@x.test".into())),
                arrived_by: Some(Timestamp::from_secs(1000)),
                ..Selector::default()
            }),
        ),
        (vec![], Err(SelectError::Nothing)),
        (vec![("arrived_by", "1000")], Err(SelectError::Nothing)),
        (
            vec![("all", "yes"), ("domain", "y.test")],
            Err(SelectError::AllWithOthers),
        ),
        (
            vec![("domain", "a.test"), ("domain", "b.test")],
            Err(SelectError::Twice("domain")),
        ),
        (
            vec![("colour", "red")],
            Err(SelectError::UnknownKey("colour".into())),
        ),
    ];
    for (pairs, want) in table {
        assert_eq!(sel(&pairs), want, "{pairs:?}");
    }
    for (key, value) in [
        ("older_than", "2 weeks"),
        ("from", "nobody"),
        ("from", "a@b@c"),
        ("from", ""),
        ("domain", "a@b.test"),
        ("domain", ""),
        ("all", "maybe"),
        ("arrived_by", "yesterday"),
        ("arrived_by", "1.2345678"),
        ("arrived_by", "-1"),
    ] {
        let err = Selector::default().set(key, value).unwrap_err();
        assert!(matches!(err, SelectError::BadValue { .. }), "{key}={value}");
    }
}

#[test]
fn the_query_reads_back_as_the_same_selector() {
    for pairs in [
        vec![("all", "1")],
        vec![("domain", "y.test"), ("from", "<>"), ("older_than", "90m")],
        vec![("from", "@x.test"), ("arrived_by", "1764000000")],
        vec![("from", "a+b@x.test")],
        vec![("all", "yes"), ("arrived_by", "1764000000.000250")],
    ] {
        let s = sel(&pairs).unwrap();
        let query = s.to_query();
        let mut back = Selector::default();
        for kv in query.split('&') {
            let (k, v) = kv.split_once('=').unwrap();
            let v = v
                .replace("%3C", "<")
                .replace("%3E", ">")
                .replace("%2B", "+");
            back.set(k, &v).unwrap();
        }
        assert_eq!(back, s, "{query}");
    }
}

#[test]
fn the_matcher_takes_what_every_selector_names() {
    // Arrived at t(0); b@y.test waits, c@z.test is delivered.
    let mut e = env(1, &["b@Y.test", "c@z.test"]);
    e.recipients[1].state = RecipientState::Delivered;
    let mut bounce = env(2, &["a@sender.test"]);
    bounce.sender = ReversePath::Null;
    let now = t(3 * 3600);
    let pick = |pairs: &[(&str, &str)], env: &Envelope| sel(pairs).unwrap().matches(env, &[], now);
    let by = (t(10).as_secs()).to_string();
    let before = (t(0).as_secs() - 1).to_string();
    // (selector, whether it takes `e`, whether it takes the bounce)
    let table: &[(Pick, bool, bool)] = &[
        (&[("all", "yes")], true, true),
        (&[("domain", "y.test")], true, false),
        (&[("domain", "z.test")], false, false), // delivered there: nothing waits
        (&[("domain", "sender.test")], false, true),
        (&[("from", "a@SENDER.test")], true, false),
        (&[("from", "@sender.test")], true, false),
        (&[("from", "<>")], false, true),
        (&[("older_than", "2h")], true, true),
        (&[("older_than", "4h")], false, false),
        (&[("domain", "y.test"), ("older_than", "2h")], true, false),
        (&[("domain", "y.test"), ("from", "<>")], false, false),
        (&[("all", "yes"), ("arrived_by", &by)], true, true),
        (&[("all", "yes"), ("arrived_by", &before)], false, false),
    ];
    for (pairs, on_e, on_bounce) in table {
        assert_eq!(pick(pairs, &e), *on_e, "{pairs:?} on the mail");
        assert_eq!(pick(pairs, &bounce), *on_bounce, "{pairs:?} on the bounce");
    }
    let search = Selector {
        search: Some(Query::new("", Some(Shown::Delivered), None, 0)),
        ..Selector::default()
    };
    assert!(search.matches(&e, &[], now));
    assert!(!search.matches(&bounce, &[], now));
}

#[test]
fn each_verb_applies_to_the_messages_it_changes() {
    let waiting = env(1, &["b@y.test"]);
    let mut held = waiting.clone();
    held.held = true;
    let mut done = waiting.clone();
    done.recipients[0].state = RecipientState::Failed;
    // (verb, on waiting, on held, on a message with nothing waiting)
    for (verb, w, h, d) in [
        (Verb::Retry, true, false, false),
        (Verb::Hold, true, false, true),
        (Verb::Release, false, true, false),
        (Verb::Delete, true, true, true),
    ] {
        assert_eq!(verb.applies(&waiting), w, "{verb:?}");
        assert_eq!(verb.applies(&held), h, "{verb:?}");
        assert_eq!(verb.applies(&done), d, "{verb:?}");
        assert_eq!(Verb::from_name(verb.name()), Some(verb));
    }
}
