//! The streamed start-up scan: the first pass's decisions as a table, the batching, and a
//! spool with files of this run beside an earlier run's.

use super::*;

const OLD: &str = "0000000000000001";

#[test]
fn the_first_pass_removes_leftovers_and_keeps_this_runs_files() {
    let own_from = MessageId::parse("8000000000000000").unwrap();
    let mine = |id: &MessageId| id >= &own_from;
    let own = Some(".recycle-42-1-");
    // (name, regular, the files that exist besides it, expected)
    let old = MessageId::parse(OLD).unwrap();
    let table: &[(&str, bool, &[&str], Tidy)] = &[
        (".recycle-7-1-3", true, &[], Tidy::Remove),
        (".recycle-42-1-3", true, &[], Tidy::Keep),
        (".recycle-42-2-3", true, &[], Tidy::Remove),
        (".lock", true, &[], Tidy::Keep),
        ("notes.txt", true, &[], Tidy::Keep),
        ("0000000000000001.msg", false, &[], Tidy::Skip),
        ("0000000000000001.msg", true, &["env"], Tidy::Keep),
        ("0000000000000001.msg", true, &["env.tmp"], Tidy::Remove),
        ("0000000000000001.msg", true, &[], Tidy::Orphan(old.clone())),
        ("0000000000000001.env", true, &[], Tidy::Keep),
        ("0000000000000001.steps", true, &["env"], Tidy::Keep),
        ("0000000000000001.steps", true, &["msg"], Tidy::Remove),
        ("0000000000000001.msg.tmp", true, &[], Tidy::Remove),
        ("0000000000000001.part.tmp", true, &[], Tidy::Remove),
        (
            "0000000000000001.env.tmp",
            true,
            &["env", "msg"],
            Tidy::Remove,
        ),
        (
            "0000000000000001.env.tmp",
            true,
            &["msg"],
            Tidy::RemoveWithMessage(old.clone()),
        ),
        // This run's: a commit in progress, a message the intake hands on itself.
        ("F000000000000001.env.tmp", true, &[], Tidy::Keep),
        ("F000000000000001.msg.tmp", true, &[], Tidy::Keep),
        ("F000000000000001.msg", true, &[], Tidy::Keep),
        ("F000000000000001.steps", true, &[], Tidy::Keep),
    ];
    for (name, regular, present, expected) in table {
        let has = |_: &MessageId, ext: &str| present.contains(&ext);
        let got = tidy(name, *regular, &mine, own, has);
        assert_eq!(&got, expected, "{name} beside {present:?}");
    }
}

/// The spool's shared test envelope, as message `id`.
fn envelope(id: &str) -> Envelope {
    crate::spool::testing::envelope(MessageId::parse(id).unwrap())
}

#[test]
fn envelopes_are_handed_on_in_sorted_chunks_of_the_size() {
    let mut chunks: Vec<Vec<String>> = Vec::new();
    let mut batcher = Batcher::new(3, |c: Vec<Envelope>| {
        chunks.push(c.iter().map(|e| e.id.to_string()).collect())
    });
    for n in [5, 1, 4, 2, 3, 7, 6] {
        batcher.push(envelope(&format!("{n:016X}")));
    }
    assert_eq!(batcher.flush(), 7);
    assert_eq!(batcher.flush(), 7, "nothing held: nothing handed on again");
    let short = |v: &[u32]| v.iter().map(|n| format!("{n:016X}")).collect::<Vec<_>>();
    assert_eq!(
        chunks,
        vec![short(&[1, 4, 5]), short(&[2, 3, 7]), short(&[6])]
    );
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("qksmtp-restore-{name}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    dir
}

/// An earlier run's committed messages are handed on, each once, its leftovers removed and
/// its damage moved aside; this run's files (a commit in progress, a committed message) are
/// neither handed on nor touched. The earlier run's IDs are later than this run's (the clock
/// went back): told apart by the IDs the spool noted, not by time.
#[test]
fn restore_hands_on_earlier_messages_and_leaves_this_runs_alone() {
    let dir = temp_dir("runs");
    let spool = Spool::open(&dir).unwrap();
    // Written as a commit leaves them (without its fsyncs: this is about the names).
    let write = |env: &Envelope| {
        fs::write(spool.path(&env.id, MSG), b"x").unwrap();
        let text = crate::spool::envelope::render(env);
        fs::write(spool.path(&env.id, ENV), text).unwrap();
    };
    let mut earlier = Vec::new();
    for n in 1..=2500u64 {
        let env = envelope(&format!("F{n:015X}"));
        write(&env);
        earlier.push(env.id);
    }
    let leftovers = ["F000000000009998.msg.tmp", "F000000000009999.steps"];
    for name in leftovers {
        fs::write(dir.join(name), b"z").unwrap();
    }
    fs::write(dir.join("F0000000000F0000.msg"), b"orphan").unwrap();
    fs::write(dir.join(".recycle-1-1-1"), b"").unwrap();

    spool.track_own_ids();
    let new = envelope(spool.new_id().as_str());
    write(&new);
    let busy = spool.new_id();
    let in_progress = [format!("{busy}.msg.tmp"), format!("{busy}.env.tmp")];
    for name in &in_progress {
        fs::write(dir.join(name), b"z").unwrap();
    }
    let mut chunks = Vec::new();
    let scan = spool
        .restore(|c| chunks.push(c.into_iter().map(|e| e.id).collect::<Vec<_>>()))
        .unwrap();
    assert!(
        chunks.iter().all(|c| c.len() <= CHUNK),
        "{:?}",
        chunks.iter().map(Vec::len)
    );
    let mut handed: Vec<MessageId> = chunks.concat();
    handed.sort();
    assert_eq!(
        handed, earlier,
        "each earlier message once, nothing of this run"
    );
    assert_eq!(scan.leftovers.len(), 2, "{:?}", scan.leftovers);
    assert_eq!(scan.damaged.len(), 1, "{:?}", scan.damaged);
    for name in &in_progress {
        assert!(dir.join(name).exists(), "{name}: a commit in progress");
    }
    for name in leftovers.iter().chain(&[".recycle-1-1-1"]) {
        assert!(!dir.join(name).exists(), "{name}");
    }
    assert!(dir.join(format!("{}.env", new.id)).exists());
    assert!(spool.corrupt_dir().join("F0000000000F0000.msg").exists());
    assert!(
        !spool.is_own(&new.id),
        "IDs are noted only until the scan ends"
    );
    fs::remove_dir_all(&dir).unwrap();
}
