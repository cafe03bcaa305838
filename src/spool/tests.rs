//! Unit tests of the spool's commit protocol and start-up scan, on temporary directories.

use super::envelope::{Envelope, RecipientState};
use super::*;

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("qksmtp-spool-{name}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    dir
}

/// The shared test envelope, with a new ID of `spool`.
fn envelope(spool: &Spool) -> Envelope {
    super::testing::envelope(spool.new_id())
}

#[test]
fn committed_message_is_found_by_scan_with_its_content() {
    let dir = temp_dir("commit");
    let spool = Spool::open(&dir).unwrap();
    let env = envelope(&spool);
    spool
        .commit(&env, &[b"Subject: x\r\n", b"\r\nhello\r\n"])
        .unwrap();
    let scan = spool.scan(true).unwrap();
    assert_eq!(scan.envelopes, vec![env.clone()]);
    assert!(scan.leftovers.is_empty() && scan.damaged.is_empty());
    assert_eq!(
        spool.read_message(&env.id).unwrap(),
        b"Subject: x\r\n\r\nhello\r\n"
    );
    let names: Vec<_> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names.len(), 2, "only ID.msg and ID.env: {names:?}");
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn uncommitted_writes_are_removed_at_startup_but_not_by_readers() {
    let dir = temp_dir("leftover");
    let spool = Spool::open(&dir).unwrap();
    let staged_only = envelope(&spool);
    spool.stage(&staged_only, &[b"x"]).unwrap();
    let orphan = spool.new_id();
    fs::write(dir.join(format!("{orphan}.msg")), b"half").unwrap();
    let kept = envelope(&spool);
    spool.commit(&kept, &[b"y"]).unwrap();

    let read_only = spool.scan(false).unwrap();
    assert_eq!(read_only.envelopes.len(), 1);
    assert_eq!(read_only.leftovers.len(), 2, "the two temp files");
    assert_eq!(read_only.damaged.len(), 1, "the message without envelope");
    assert_eq!(
        fs::read_dir(&dir).unwrap().count(),
        5,
        "a reader removes nothing"
    );

    let cleaned = spool.scan(true).unwrap();
    assert_eq!(cleaned.envelopes, vec![kept]);
    assert_eq!(
        fs::read_dir(&dir).unwrap().count(),
        3,
        "ID.msg, ID.env and corrupt/"
    );
    let moved = spool.corrupt_dir().join(format!("{orphan}.msg"));
    assert!(moved.exists(), "moved aside, not deleted");
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn damaged_envelope_is_reported_not_dropped_silently() {
    let dir = temp_dir("damaged");
    let spool = Spool::open(&dir).unwrap();
    let env = envelope(&spool);
    spool.commit(&env, &[b"z"]).unwrap();
    fs::write(
        dir.join(format!("{}.env", env.id)),
        "qksmtp-envelope 1\nid ",
    )
    .unwrap();
    let scan = spool.scan(true).unwrap();
    assert!(scan.envelopes.is_empty());
    assert_eq!(scan.damaged.len(), 1);
    let corrupt = spool.corrupt_dir();
    assert!(
        corrupt.join(format!("{}.msg", env.id)).exists(),
        "kept for inspection"
    );
    assert!(corrupt.join(format!("{}.env", env.id)).exists());
    let again = spool.scan(true).unwrap();
    assert!(
        again.damaged.is_empty(),
        "reported once, then out of the way"
    );
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn failed_stage_leaves_nothing() {
    let dir = temp_dir("fail");
    let spool = Spool::open(&dir).unwrap();
    let env = envelope(&spool);
    // A directory where the envelope's temp file should go makes its creation fail.
    fs::create_dir(dir.join(format!("{}.env.tmp", env.id))).unwrap();
    assert!(spool.commit(&env, &[b"data"]).is_err());
    fs::remove_dir(dir.join(format!("{}.env.tmp", env.id))).unwrap();
    assert_eq!(fs::read_dir(&dir).unwrap().count(), 0);
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn state_writer_replaces_and_removes() {
    let dir = temp_dir("state");
    let spool = Spool::open(&dir).unwrap();
    let mut env = envelope(&spool);
    spool.commit(&env, &[b"m"]).unwrap();
    let mut writer = spool.state_writer();
    env.recipients[0].state = RecipientState::Delivered;
    writer.rewrite(&env).unwrap();
    assert_eq!(spool.scan(false).unwrap().envelopes, vec![env.clone()]);
    writer.remove(&env.id, false).unwrap();
    let names = |dir: &Path| -> Vec<String> {
        fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect()
    };
    let parked = names(&dir);
    assert_eq!(parked.len(), 2, "{parked:?}");
    assert!(
        parked.iter().all(|n| n.starts_with(".recycle-")),
        "{parked:?}"
    );
    // The next commit writes into the parked files (used or emptied by then).
    let next = envelope(&spool);
    spool.commit(&next, &[b"ne", b"xt"]).unwrap();
    assert_eq!(names(&dir).len(), 2, "{:?}", names(&dir));
    assert_eq!(spool.read_message(&next.id).unwrap(), b"next");
    assert_eq!(spool.scan(false).unwrap().envelopes, vec![next.clone()]);
    // Parked files are not messages; the start-up scan removes them.
    writer.remove(&next.id, false).unwrap();
    let scan = spool.scan(true).unwrap();
    assert!(scan.envelopes.is_empty() && scan.damaged.is_empty() && scan.leftovers.is_empty());
    assert_eq!(names(&dir), Vec::<String>::new());
    fs::remove_dir_all(&dir).unwrap();
}

/// Found by the crash test: a kill between the two renames of `publish`, or between the
/// unlinks of `remove`, left a lone `ID.msg` that start-up moved to `corrupt/` as damage.
/// Both now leave `ID.msg` + `ID.env.tmp`: an unfinished write, removed.
#[test]
fn a_kill_inside_publish_or_remove_is_a_leftover_not_damage() {
    let dir = temp_dir("killed");
    let spool = Spool::open(&dir).unwrap();
    let half_published = envelope(&spool);
    spool.stage(&half_published, &[b"x"]).unwrap();
    let id = &half_published.id;
    fs::rename(
        dir.join(format!("{id}.msg.tmp")),
        dir.join(format!("{id}.msg")),
    )
    .unwrap();
    let scan = spool.scan(false).unwrap();
    assert!(scan.damaged.is_empty(), "{:?}", scan.damaged);
    assert_eq!(scan.leftovers.len(), 2);

    let removed = envelope(&spool);
    spool.commit(&removed, &[b"y"]).unwrap();
    let mut writer = spool.state_writer();
    writer.remove(&removed.id, false).unwrap();
    assert!(!dir.join(format!("{}.env.tmp", removed.id)).exists());
    assert!(!dir.join(format!("{}.msg", removed.id)).exists());

    let cleaned = spool.scan(true).unwrap();
    assert!(cleaned.envelopes.is_empty() && cleaned.damaged.is_empty());
    assert_eq!(
        fs::read_dir(&dir).unwrap().count(),
        0,
        "nothing left, no corrupt/"
    );
    fs::remove_dir_all(&dir).unwrap();
}

/// A rewrite whose rename fails leaves no `ID.env.tmp` behind: the next rewrite of the same
/// message creates it exclusively and would otherwise fail for ever.
#[test]
fn a_failed_rewrite_leaves_no_temp_file() {
    let dir = temp_dir("rewrite-fails");
    let spool = Spool::open(&dir).unwrap();
    let env = envelope(&spool);
    let id = env.id.clone();
    // A directory where the envelope should be: the rename over it fails.
    fs::create_dir(dir.join(format!("{id}.env"))).unwrap();
    let mut writer = spool.state_writer();
    assert!(writer.rewrite(&env).is_err());
    assert!(!dir.join(format!("{id}.env.tmp")).exists());
    fs::remove_dir(dir.join(format!("{id}.env"))).unwrap();
    writer.rewrite(&env).unwrap();
    assert_eq!(spool.read_envelope(&id).unwrap().unwrap(), env);
    fs::remove_dir_all(&dir).unwrap();
}

/// A stage that finds its temp path taken (`AlreadyExists`) leaves that file alone: it is
/// someone else's, not a half-written file of its own.
#[test]
fn a_stage_that_finds_its_temp_path_taken_leaves_it_alone() {
    let dir = temp_dir("taken");
    let spool = Spool::open(&dir).unwrap();
    let env = envelope(&spool);
    let theirs = dir.join(format!("{}.msg.tmp", env.id));
    fs::write(&theirs, b"someone else's").unwrap();
    let err = spool.stage(&env, &[b"x"]).err().unwrap();
    assert_eq!(err.kind(), std::io::ErrorKind::AlreadyExists);
    assert_eq!(fs::read(&theirs).unwrap(), b"someone else's");
    fs::remove_dir_all(&dir).unwrap();
}

/// A used parked file is written over in place and cut to the new length: a message shorter
/// than the file it lands in reads back exact, one longer grows it.
#[test]
fn a_used_file_is_written_over_and_cut_to_length() {
    let dir = temp_dir("overwrite");
    fs::create_dir_all(&dir).unwrap();
    let recycler = Recycler::with_quiet(&dir, None);
    for (i, (old, new)) in [
        (&b"a long old message"[..], &b"new"[..]),
        (b"old", b"a longer new one"),
    ]
    .into_iter()
    .enumerate()
    {
        let parked = dir.join(format!("{i}.msg"));
        fs::write(&parked, old).unwrap();
        recycler.park(&parked).unwrap();
        let path = dir.join(format!("{i}.msg.tmp"));
        let half = new.len() / 2;
        create_written(&recycler, &path, &[&new[..half], &new[half..]], None).unwrap();
        assert_eq!(fs::read(&path).unwrap(), new);
    }
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn an_envelope_without_its_message_is_set_aside_not_retried_for_ever() {
    let dir = temp_dir("env-without-msg");
    let spool = Spool::open(&dir).unwrap();
    let (lost, kept) = (envelope(&spool), envelope(&spool));
    spool.commit(&lost, &[b"gone"]).unwrap();
    spool.commit(&kept, &[b"here"]).unwrap();
    fs::remove_file(dir.join(format!("{}.msg", lost.id))).unwrap();
    let scan = spool.scan(true).unwrap();
    assert_eq!(scan.envelopes, vec![kept.clone()]);
    assert_eq!(scan.damaged.len(), 1, "{:?}", scan.damaged);
    assert!(scan.damaged[0].1.contains("without its message"));
    assert!(
        spool
            .corrupt_dir()
            .join(format!("{}.env", lost.id))
            .exists()
    );
    assert!(!dir.join(format!("{}.env", lost.id)).exists());
    fs::remove_dir_all(&dir).unwrap();
}

#[cfg(unix)]
#[test]
fn a_fifo_named_like_a_spool_file_is_skipped_without_being_opened() {
    let dir = temp_dir("fifo");
    let spool = Spool::open(&dir).unwrap();
    let env = envelope(&spool);
    spool.commit(&env, &[b"body"]).unwrap();
    let other = spool.new_id();
    let fifo = dir.join(format!("{other}.env"));
    let path = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: a valid NUL-terminated path; mkfifo only creates a file.
    assert_eq!(unsafe { libc::mkfifo(path.as_ptr(), 0o600) }, 0);
    // Opening the FIFO for reading would block this scan for ever (no writer).
    let scan = spool.scan(true).unwrap();
    assert_eq!(scan.envelopes, vec![env]);
    assert_eq!(scan.skipped, vec![fifo.clone()]);
    assert!(scan.damaged.is_empty());
    assert!(fifo.exists(), "left where it is for a person to look at");
    fs::remove_dir_all(&dir).unwrap();
}

#[cfg(unix)]
#[test]
fn a_step_record_is_readable_by_the_server_only() {
    use std::os::unix::fs::PermissionsExt;
    let dir = temp_dir("steps-mode");
    let spool = Spool::open(&dir).unwrap();
    let env = envelope(&spool);
    spool.commit(&env, &[b"body"]).unwrap();
    let mut writer = spool.state_writer();
    writer.append_record(&env.id, "direct 1 of 3\n").unwrap();
    let meta = fs::metadata(dir.join(format!("{}.steps", env.id))).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    fs::remove_dir_all(&dir).unwrap();
}

/// `qksmtp queue`'s streamed read finds what the listed read finds (envelopes, leftovers,
/// damage, a FIFO skipped), removes nothing, and hands on the first few dozen envelopes
/// before it reads the rest.
#[cfg(unix)]
#[test]
fn the_streamed_read_finds_what_the_listed_read_finds_and_starts_small() {
    let dir = temp_dir("streamed");
    let spool = Spool::open(&dir).unwrap();
    let mut committed: Vec<MessageId> = (0..FIRST_CHUNK + CHUNK + 7)
        .map(|_| {
            let env = envelope(&spool);
            spool.commit(&env, &[b"body"]).unwrap();
            env.id
        })
        .collect();
    spool.stage(&envelope(&spool), &[b"x"]).unwrap();
    fs::write(dir.join(format!("{}.msg", spool.new_id())), b"half").unwrap();
    let fifo = dir.join(format!("{}.env", spool.new_id()));
    let path = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: a valid NUL-terminated path; mkfifo only creates a file.
    assert_eq!(unsafe { libc::mkfifo(path.as_ptr(), 0o600) }, 0);
    let files = fs::read_dir(&dir).unwrap().count();

    let mut handed = Vec::new();
    let mut ids = Vec::new();
    let streamed = spool
        .read_streamed(|chunk| {
            handed.push(chunk.len());
            ids.extend(chunk.drain(..).map(|e| e.id));
        })
        .unwrap();
    assert_eq!(handed, [FIRST_CHUNK, CHUNK, 7]);
    let listed = spool.scan(false).unwrap();
    ids.sort();
    committed.sort();
    assert_eq!(ids, committed);
    assert_eq!(listed.envelopes.len(), committed.len());
    let mut leftovers = streamed.leftovers.clone();
    leftovers.sort();
    let mut listed_leftovers = listed.leftovers.clone();
    listed_leftovers.sort();
    assert_eq!(leftovers, listed_leftovers);
    assert_eq!(leftovers.len(), 2, "the staged message's two temp files");
    assert_eq!(streamed.damaged, listed.damaged);
    assert_eq!(streamed.damaged.len(), 1, "the message without envelope");
    assert_eq!(streamed.skipped, vec![fifo.clone()]);
    assert_eq!(
        fs::read_dir(&dir).unwrap().count(),
        files,
        "nothing removed"
    );
    fs::remove_dir_all(&dir).unwrap();
}
