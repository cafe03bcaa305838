use super::*;
use crate::queue::scheduler::tests::{env, t};

fn record(n: u32, at: Timestamp) -> Record {
    Record {
        envelope: env(n, &["b@y.test", "c@z.test"]),
        at,
        headers: format!("Subject: number {n}\nTo: b@y.test\n"),
        steps: "attempt 1\n  2026-12-05 00:00:00Z 3ms ok CONNECT 127.0.0.1\n".into(),
    }
}

fn temp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("qksmtp-journal-{name}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn a_record_reads_back_and_a_cut_or_damaged_one_is_said_to_be() {
    let r = record(1, t(5));
    let bytes = encode(&r);
    assert_eq!(decode(&bytes), Ok((r.clone(), bytes.len())));
    let mut two = bytes.clone();
    two.extend_from_slice(&encode(&record(2, t(6))));
    let (first, used) = decode(&two).unwrap();
    assert_eq!((first, used), (r, bytes.len()));
    assert_eq!(decode(&two[used..]).unwrap().0.envelope.id, env(2, &[]).id);
    // (bytes, what decode says)
    let mut wrong_end = bytes.clone();
    *wrong_end.last_mut().unwrap() = b'x';
    // The envelope said to be one byte longer: it then ends in a header's first letter.
    let text = String::from_utf8(bytes.clone()).unwrap();
    let (head, rest) = text.split_once('\n').unwrap();
    let mut n: Vec<u64> = head
        .split(' ')
        .skip(2)
        .map(|n| n.parse().unwrap())
        .collect();
    (n[1], n[2]) = (n[1] + 1, n[2] - 1);
    let wrong_len = format!("{MAGIC} {} {} {} {}\n{rest}", n[0], n[1], n[2], n[3]);
    for (input, want_incomplete) in [
        (&bytes[..bytes.len() - 1], true),
        (&bytes[..10], true),
        (&wrong_end[..], false),
        (b"garbage\n".as_slice(), false),
        (b"qksmtp-history 1 1 2 3 4\n".as_slice(), true),
        (b"qksmtp-history 1 1 2\n".as_slice(), false),
    ] {
        let got = decode(input).unwrap_err();
        assert_eq!(got == JournalError::Incomplete, want_incomplete, "{got:?}");
    }
    assert!(matches!(
        decode(wrong_len.as_bytes()),
        Err(JournalError::Damaged(_))
    ));
}

#[test]
fn appended_records_read_back_across_a_restart_and_a_cut_tail_is_skipped() {
    let spool = temp("restart");
    let limits = Limits {
        max: 1000,
        age: Duration::from_secs(86_400),
        max_bytes: 1 << 30,
    };
    let mut j = Journal::open(&spool).unwrap();
    let mut places = Vec::new();
    for n in 1..=3 {
        places.push(j.append(&record(n, t(n.into())), limits, t(10)).unwrap().0);
    }
    assert_eq!(j.read(places[1]).unwrap(), record(2, t(2)));
    drop(j);
    // A crash in the middle of a record: the segment's good records stay.
    let seg = spool.join(DIR).join(segment_name(1));
    let mut f = OpenOptions::new().append(true).open(&seg).unwrap();
    f.write_all(&encode(&record(4, t(4)))[..30]).unwrap();
    let mut seen = Vec::new();
    let segments = read_all(&spool, None, |r, place| seen.push((r, place))).unwrap();
    assert_eq!(seen.len(), 3);
    assert_eq!(seen[2], (record(3, t(3)), places[2]));
    assert_eq!(
        segments,
        [Segment {
            number: 1,
            records: 3,
            newest: t(3),
            bytes: 0,
        }]
    );
    // The next run writes a new segment and adopts the old one; reading back, it reads only
    // the segments of earlier runs.
    let mut j = Journal::open(&spool).unwrap();
    assert_eq!(j.first_own(), 2);
    let (place, removed) = j.append(&record(5, t(5)), limits, t(10)).unwrap();
    assert_eq!((place.segment, place.offset, removed), (2, 0, vec![]));
    j.flush();
    let mut earlier = 0;
    let again = read_all(&spool, Some(j.first_own()), |_, _| earlier += 1).unwrap();
    assert_eq!((earlier, &again), (3, &segments));
    assert!(j.adopt(segments, limits, t(10)).is_empty());
    assert_eq!(j.read(places[0]).unwrap(), record(1, t(1)));
    let _ = fs::remove_dir_all(&spool);
}

#[test]
fn whole_old_segments_go_past_the_count_or_the_age() {
    let spool = temp("limits");
    let limits = Limits {
        max: 150,
        age: Duration::from_secs(3600),
        max_bytes: 1 << 30,
    };
    assert_eq!(limits.per_segment(), 100);
    let mut j = Journal::open(&spool).unwrap();
    let mut removed = Vec::new();
    for n in 1..=250 {
        removed.extend(j.append(&record(n, t(n.into())), limits, t(300)).unwrap().1);
    }
    // 100 + 100 + 50: dropping the first still leaves 150.
    assert_eq!(removed, [1]);
    j.settle();
    assert_eq!(segments_in(&spool.join(DIR)).unwrap(), [2, 3]);
    // An hour after segment 2's newest record, it goes; the one being written never does.
    let later = t(200).plus(Duration::from_secs(3601));
    let (_, removed) = j.append(&record(251, later), limits, later).unwrap();
    assert_eq!(removed, [2]);
    let much_later = later.plus(Duration::from_secs(7200));
    let (_, removed) = j
        .append(&record(252, much_later), limits, much_later)
        .unwrap();
    assert!(removed.is_empty(), "{removed:?}");
    j.settle();
    assert_eq!(segments_in(&spool.join(DIR)).unwrap(), [3]);
    let _ = fs::remove_dir_all(&spool);
}

#[test]
fn kept_message_files_go_with_their_segment_and_past_max_bytes() {
    let spool = temp("bodies");
    let limits = Limits {
        max: 1000,
        age: Duration::from_secs(3600),
        max_bytes: 1000,
    };
    let mut j = Journal::open(&spool).unwrap();
    let body = |n: u32| spool.join(DIR).join(format!("{}.msg", env(n, &[]).id));
    let mut removed = Vec::new();
    for n in 1..=4 {
        fs::write(body(n), vec![b'x'; 400]).unwrap();
        removed.extend(j.append(&record(n, t(n.into())), limits, t(10)).unwrap().1);
    }
    // Each 400-byte file fills a segment (a tenth of max_bytes); past 1000 bytes the oldest
    // go, each with its file.
    assert_eq!(removed, [1, 2]);
    j.settle();
    assert_eq!(segments_in(&spool.join(DIR)).unwrap(), [3, 4]);
    assert_eq!((body(1).exists(), body(2).exists()), (false, false));
    assert!(body(3).exists() && body(4).exists());
    // A record without a kept file counts no bytes; read back, a segment counts its files.
    let (_, removed) = j.append(&record(5, t(5)), limits, t(10)).unwrap();
    assert!(removed.is_empty(), "{removed:?}");
    j.flush();
    let segments = read_all(&spool, None, |_, _| {}).unwrap();
    let bytes: Vec<u64> = segments.iter().map(|s| s.bytes).collect();
    assert_eq!(bytes, [400, 400, 0]);
    // Deleting a finished message removes its file.
    assert!(j.forget_body(&env(4, &[]).id) && !body(4).exists());
    assert!(!j.forget_body(&env(4, &[]).id));
    let _ = fs::remove_dir_all(&spool);
}
