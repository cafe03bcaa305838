use super::*;
use crate::queue::scheduler::tests::{env, t};

fn record(n: u32, at: Timestamp) -> Record {
    Record {
        envelope: env(n, &["b@y.test", "c@z.test"]),
        at,
        headers: format!("Subject: number {n}\nTo: b@y.test\n"),
        steps: "attempt 1\n  2026-12-05 00:00:00Z 3ms ok CONNECT 127.0.0.1\n".into(),
        body: None,
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
        places.push(
            j.append(&record(n, t(n.into())), "t", limits, t(10))
                .unwrap()
                .place,
        );
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
    let Appended { place, removed, .. } = j.append(&record(5, t(5)), "t", limits, t(10)).unwrap();
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
        removed.extend(
            j.append(&record(n, t(n.into())), "t", limits, t(300))
                .unwrap()
                .removed,
        );
    }
    // 100 + 100 + 50: dropping the first still leaves 150.
    assert_eq!(removed, [1]);
    j.settle();
    assert_eq!(segments_in(&spool.join(DIR)).unwrap(), [2, 3]);
    // An hour after segment 2's newest record, it goes; the one being written never does.
    let later = t(200).plus(Duration::from_secs(3601));
    let removed = j
        .append(&record(251, later), "t", limits, later)
        .unwrap()
        .removed;
    assert_eq!(removed, [2]);
    let much_later = later.plus(Duration::from_secs(7200));
    let removed = j
        .append(&record(252, much_later), "t", limits, much_later)
        .unwrap()
        .removed;
    assert!(removed.is_empty(), "{removed:?}");
    j.settle();
    assert_eq!(segments_in(&spool.join(DIR)).unwrap(), [3]);
    let _ = fs::remove_dir_all(&spool);
}

/// The bytes of a kept message, read back through its place (`Kept::open`).
fn read_kept(dir: &Path, n: u32, place: Option<Place>) -> io::Result<Vec<u8>> {
    let (mut reader, len) = kept_in(dir, &env(n, &[]).id, place).open()?;
    let mut bytes = Vec::new();
    reader.read_to_end(&mut bytes)?;
    assert_eq!(bytes.len() as u64, len);
    Ok(bytes)
}

#[test]
fn kept_bodies_go_into_their_segments_body_file_and_past_max_bytes_with_it() {
    let spool = temp("bodies");
    let dir = spool.join(DIR);
    let limits = Limits {
        max: 1000,
        age: Duration::from_secs(3600),
        max_bytes: 500,
    };
    let mut j = Journal::open(&spool).unwrap();
    // The spool's reuse of files, as the server hands it: here, a folder of its own.
    let parked = spool.join("parked");
    fs::create_dir_all(&parked).unwrap();
    let into = parked.clone();
    j.recycle_with(std::sync::Arc::new(move |p: &Path| {
        fs::rename(p, into.join(p.file_name().unwrap()))
    }));
    let file = |n: u32| dir.join(format!("{}.msg", env(n, &[]).id));
    let text = |n: u32| format!("Subject: {n}\r\n\r\n{}", "x".repeat(100 + n as usize));
    let mut places = Vec::new();
    let mut removed = Vec::new();
    for n in 1..=8 {
        fs::write(file(n), text(n)).unwrap();
        let Appended {
            place,
            removed: gone,
            ..
        } = j
            .append(&record(n, t(n.into())), "t", limits, t(10))
            .unwrap();
        places.push(place);
        removed.extend(gone);
    }
    // One to a segment (each past a tenth of max_bytes), at its start; past 500 bytes the
    // oldest segments go.
    let spans: Vec<(u64, Option<Span>)> = places.iter().map(|p| (p.segment, p.body)).collect();
    let span = |n: u64| {
        (
            n,
            Some(Span {
                offset: 0,
                len: 114 + n,
            }),
        )
    };
    assert_eq!(spans, (1..=8).map(span).collect::<Vec<_>>());
    assert_eq!(removed, [1, 2, 3, 4]);
    j.settle();
    // Each file copied is handed back; the body files hold the bytes, one per segment.
    assert_eq!(fs::read_dir(&parked).unwrap().count(), 8);
    assert!((1..=8).all(|n| !file(n).exists()));
    let bodies = |n: u64| dir.join(format!("{n:08}.bodies"));
    assert!(!bodies(4).exists() && bodies(5).exists() && bodies(8).exists());
    for n in 5..=8 {
        let got = read_kept(&dir, n, Some(places[n as usize - 1])).unwrap();
        assert_eq!(String::from_utf8(got).unwrap(), text(n));
    }
    // A pruned one is gone.
    let gone = read_kept(&dir, 1, Some(places[0])).unwrap_err();
    assert_eq!(gone.kind(), io::ErrorKind::NotFound);
    // Read back after a restart: the same places, the segments count their bodies.
    j.flush();
    let mut back = Vec::new();
    let segments = read_all(&spool, None, |_, place| back.push(place)).unwrap();
    assert_eq!(back, places[4..]);
    let bytes: Vec<u64> = segments.iter().map(|s| s.bytes).collect();
    assert_eq!(bytes, [119, 120, 121, 122]);
    // `qksmtp delete` erases one message's bytes: it reads as gone, its neighbours stay.
    let kept = kept_in(&dir, &env(6, &[]).id, Some(places[5]));
    assert!(kept.forget().unwrap());
    let erased = read_kept(&dir, 6, Some(places[5])).unwrap_err();
    assert_eq!(erased.kind(), io::ErrorKind::NotFound);
    assert!(!kept.forget().unwrap());
    assert_eq!(
        read_kept(&dir, 7, Some(places[6])).unwrap(),
        text(7).as_bytes()
    );
    // The server stopped, `qksmtp delete` finds it in the journal.
    let seven = kept_in(&dir, &env(7, &[]).id, Some(places[6]));
    assert_eq!(locate(&spool, &env(7, &[]).id).unwrap(), Some(seven));
    let _ = fs::remove_dir_all(&spool);
}

#[test]
fn a_body_not_yet_copied_is_read_from_its_own_file_and_a_record_without_a_body_counts_none() {
    let spool = temp("uncopied");
    let dir = spool.join(DIR);
    let on = Limits {
        max: 1000,
        age: Duration::from_secs(3600),
        max_bytes: 1 << 30,
    };
    let mut j = Journal::open(&spool).unwrap();
    // A record of before body files (or a stop before the copy): its own file.
    let file = dir.join(format!("{}.msg", env(1, &[]).id));
    fs::write(&file, "Subject: own\r\n\r\nfile").unwrap();
    assert_eq!(
        read_kept(&dir, 1, None).unwrap(),
        b"Subject: own\r\n\r\nfile"
    );
    // Its bytes given a place in a body file but not copied there yet: its own file.
    let pending = Place {
        segment: 1,
        offset: 0,
        len: 0,
        body: Some(Span { offset: 0, len: 20 }),
    };
    assert_eq!(
        read_kept(&dir, 1, Some(pending)).unwrap(),
        b"Subject: own\r\n\r\nfile"
    );
    // Bodies not kept (history_max_size = 0): no span, no bytes, the file left alone.
    let off = Limits { max_bytes: 0, ..on };
    let place = j.append(&record(1, t(1)), "t", off, t(1)).unwrap().place;
    assert_eq!(place.body, None);
    // Kept: copied into the body file at once, read from there.
    let place = j.append(&record(1, t(2)), "t", on, t(2)).unwrap().place;
    let reserved = kept_in(&dir, &env(1, &[]).id, Some(place));
    let span = Span { offset: 0, len: 20 };
    assert_eq!(
        reserved.bodies,
        Some((dir.join(format!("{:08}.bodies", place.segment)), span))
    );
    j.settle();
    assert!(!file.exists(), "copied, then removed (no recycler)");
    assert_eq!(
        read_kept(&dir, 1, Some(place)).unwrap(),
        b"Subject: own\r\n\r\nfile"
    );
    j.flush();
    let segments = read_all(&spool, None, |_, _| {}).unwrap();
    assert_eq!(segments.iter().map(|s| s.bytes).sum::<u64>(), 20);
    let _ = fs::remove_dir_all(&spool);
}

#[test]
fn a_big_message_is_copied_in_pieces_and_read_back_whole() {
    let spool = temp("big");
    let dir = spool.join(DIR);
    let limits = Limits {
        max: 1000,
        age: Duration::from_secs(3600),
        max_bytes: 1 << 30,
    };
    let mut j = Journal::open(&spool).unwrap();
    // Spilled past the 256 KiB kept in memory while receiving: 3 MiB, every byte numbered.
    let big: Vec<u8> = b"Subject: big\r\n\r\n"
        .iter()
        .copied()
        .chain((0..3 * 1024 * 1024u32).map(|i| b'a' + (i % 26) as u8))
        .collect();
    let small = b"Subject: small\r\n\r\nx".to_vec();
    let mut places = Vec::new();
    for (n, bytes) in [(1, &small), (2, &big), (3, &small)] {
        fs::write(dir.join(format!("{}.msg", env(n, &[]).id)), bytes).unwrap();
        places.push(j.append(&record(n, t(1)), "t", limits, t(1)).unwrap().place);
    }
    j.settle();
    assert_eq!(places[1].body.map(|b| b.len), Some(big.len() as u64));
    for (n, want) in [(1, &small), (2, &big), (3, &small)] {
        let got = read_kept(&dir, n, Some(places[n as usize - 1])).unwrap();
        assert!(got == *want, "message {n}: {} bytes", got.len());
    }
    // Deleted right after it finished: erased after its copy, never written back by it.
    fs::write(dir.join(format!("{}.msg", env(4, &[]).id)), &big).unwrap();
    let place = j.append(&record(4, t(2)), "t", limits, t(2)).unwrap().place;
    assert!(j.forget(&env(4, &[]).id, Some(place)).unwrap());
    j.settle();
    let erased = read_kept(&dir, 4, Some(place)).unwrap_err();
    assert_eq!(erased.kind(), io::ErrorKind::NotFound);
    assert_eq!(read_kept(&dir, 3, Some(places[2])).unwrap(), small);
    let _ = fs::remove_dir_all(&spool);
}
