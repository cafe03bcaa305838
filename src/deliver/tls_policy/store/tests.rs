//! The cache's choices (table), and the store end to end with an in-memory DNS and a
//! scripted fetch: refresh on a new id, kept when the fetch fails, read back after a restart.

use super::*;
use crate::dns::{Fail, Zone};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

const ENFORCE: &str = "version: STSv1\nmode: enforce\nmx: mx.a.test\nmax_age: 3600\n";
const TESTING: &str = "version: STSv1\nmode: testing\nmx: mx.a.test\nmax_age: 3600\n";

fn cached(id: &str, fetched: u64) -> Cached {
    Cached {
        id: id.into(),
        fetched,
        policy: sts::parse(ENFORCE).unwrap(),
        text: ENFORCE.into(),
    }
}

#[test]
fn plans() {
    let id = |s: &str| Txt::Id(s.into());
    let failed = Txt::Failed("SERVFAIL".into());
    let c = cached("one", 1000);
    let cases = [
        (id("one"), None, 1000, Plan::Fetch),
        (id("one"), Some(&c), 1000, Plan::UseCached),
        (id("one"), Some(&c), 4599, Plan::UseCached),
        (id("one"), Some(&c), 4600, Plan::Fetch),
        (id("two"), Some(&c), 1001, Plan::Fetch),
        (Txt::Absent, None, 1000, Plan::NoPolicy),
        (Txt::Absent, Some(&c), 1001, Plan::UseCached),
        (Txt::Absent, Some(&c), 4600, Plan::NoPolicy),
        (failed.clone(), Some(&c), 1001, Plan::UseCached),
        (failed, None, 1001, Plan::NoPolicy),
    ];
    for (txt, cache, now, want) in cases {
        assert_eq!(plan(&txt, cache, now), want, "{txt:?} {cache:?} {now}");
    }
    assert_eq!(left(&c, 1600), std::time::Duration::from_secs(3000));
}

/// A store whose fetch answers from `answers` in turn and counts its calls.
fn store(
    dir: &Path,
    answers: Vec<Result<&'static str, &'static str>>,
) -> (Store, Arc<AtomicUsize>) {
    let calls = Arc::new(AtomicUsize::new(0));
    let n = calls.clone();
    let fetch = move |_: &str, _: &dyn Lookup, _: &Config| {
        let i = n.fetch_add(1, Ordering::SeqCst);
        answers[i.min(answers.len() - 1)]
            .map(str::to_string)
            .map_err(str::to_string)
    };
    (Store::with_fetcher(dir, Box::new(fetch)), calls)
}

fn config() -> Config {
    let path = Path::new("/nonexistent/qksmtp.ini");
    crate::config::load::parse("", path, "host.test").unwrap().0
}

fn tempdir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("qksmtp-sts-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn fetched_once_refreshed_on_a_new_id_kept_when_the_fetch_fails_and_after_a_restart() {
    let dir = tempdir("store");
    let config = config();
    let zone = Zone::new().txt("_mta-sts.a.test", "v=STSv1; id=one");
    let (s, calls) = store(&dir, vec![Ok(ENFORCE), Err("connection refused")]);
    let mut record = Record::new();
    let p = s.policy("a.test", &zone, &config, &mut record).unwrap();
    assert_eq!(p.mode, sts::Mode::Enforce);
    let p = s.policy("A.test.", &zone, &config, &mut record).unwrap();
    assert_eq!(p.mode, sts::Mode::Enforce);
    assert_eq!(
        calls.load(Ordering::SeqCst),
        1,
        "the same id: from the cache"
    );
    let words: Vec<&str> = record.steps.iter().map(|s| s.detail.as_str()).collect();
    assert_eq!(words[0], "MTA-STS TXT _mta-sts.a.test: v=STSv1; id=one");
    assert_eq!(
        words[1],
        "MTA-STS policy of a.test: mode enforce, mx mx.a.test, max_age 3600s (fetched, id one)"
    );
    assert_eq!(
        words[3],
        "MTA-STS policy of a.test: mode enforce, mx mx.a.test, max_age 3600s (cached, id one)"
    );

    // A new id while the policy server is down: the cached policy holds.
    let zone = Zone::new().txt("_mta-sts.a.test", "v=STSv1; id=two");
    let mut record = Record::new();
    let p = s.policy("a.test", &zone, &config, &mut record).unwrap();
    assert_eq!(p.mode, sts::Mode::Enforce);
    let last = record.steps.last().unwrap();
    assert!(!last.ok);
    assert_eq!(
        last.detail,
        "MTA-STS policy of a.test: fetch failed: connection refused; using the cached policy \
         (id one): mode enforce, mx mx.a.test, max_age 3600s"
    );

    // After a restart the policy comes from the disk, and the DNS failing changes nothing.
    let (s, calls) = store(&dir, vec![Err("unreachable")]);
    let zone = Zone::new().txt_fails("_mta-sts.a.test", Fail::ServerFailure);
    let p = s
        .policy("a.test", &zone, &config, &mut Record::new())
        .unwrap();
    assert_eq!(p.mode, sts::Mode::Enforce);
    assert_eq!(calls.load(Ordering::SeqCst), 0);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_new_policy_replaces_the_cached_one_and_none_without_a_record() {
    let dir = tempdir("replace");
    let config = config();
    let (s, _) = store(&dir, vec![Ok(ENFORCE), Ok(TESTING), Ok("garbage")]);
    let one = Zone::new().txt("_mta-sts.a.test", "v=STSv1; id=one");
    let two = Zone::new().txt("_mta-sts.a.test", "v=STSv1; id=two");
    let three = Zone::new().txt("_mta-sts.a.test", "v=STSv1; id=three");
    let mode = |z: &Zone| {
        s.policy("a.test", z, &config, &mut Record::new())
            .map(|p| p.mode)
    };
    assert_eq!(mode(&one), Some(sts::Mode::Enforce));
    assert_eq!(mode(&two), Some(sts::Mode::Testing));
    // A policy that does not parse is a failed fetch: the last good one holds.
    assert_eq!(mode(&three), Some(sts::Mode::Testing));
    assert_eq!(
        mode(&Zone::new()),
        Some(sts::Mode::Testing),
        "no record: the fresh cache"
    );
    let other = s.policy("b.test", &Zone::new(), &config, &mut Record::new());
    assert_eq!(other, None);
    let _ = std::fs::remove_dir_all(&dir);
}
