//! The durable spool: one immutable `ID.msg` and one replaceable `ID.env` per message in
//! `spool_dir`. Intake commits new messages (`Spool::commit`); after that only the scheduler
//! changes them, through the single `StateWriter`.
//!
//! Commit protocol: write `ID.msg.tmp` and `ID.env.tmp`, fsync both, rename them to `ID.msg`
//! then `ID.env`, fsync the directory. The envelope's rename is the commit point: at start-up
//! a `.tmp` file, or a `.msg` whose envelope is still `.env.tmp`, is a write that never got its
//! `250` (or a removal cut short), and is removed; a `.msg` with no envelope at all is damage
//! and goes to `corrupt/`. The directory fsync is shared by commits running at the same time
//! (group commit, `dirsync`): each waits for an fsync that started after its renames.

mod dirsync;
pub mod envelope;
pub mod id;
pub mod lock;
pub mod paused;
mod recycle;
mod restore;
#[cfg(test)]
mod testing;

use dirsync::DirSync;
use envelope::{Envelope, EnvelopeError};
use id::{IdGenerator, MessageId};
use recycle::{Recycler, Taken};
use std::collections::HashSet;
use std::fs::{self, File, OpenOptions};
use std::io::{self, IoSlice, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

const MSG: &str = "msg";
const ENV: &str = "env";
const TMP: &str = "tmp";
/// A message being received, past the first part kept in memory (`ID.part.tmp`).
const PART: &str = "part";
/// The step-by-step record of every delivery attempt, appended by the scheduler.
const STEPS: &str = "steps";
/// Sub-folder of finished messages: the history journal's segments and body files, and the
/// message files being copied there (`ID.msg`, moved there when the message leaves the
/// queue, handed back for reuse once copied: `StateWriter::recycler`).
pub const HISTORY: &str = "history";
/// Sub-folder for damaged entries, kept for inspection.
const CORRUPT: &str = "corrupt";
/// Where a message committed by another process (`qksmtp send`) is announced to the running
/// server when its API cannot be reached: an empty file named by the message ID.
const INCOMING: &str = "incoming";

pub struct Spool {
    dir: PathBuf,
    ids: IdGenerator,
    /// While the start-up scan runs (`track_own_ids` until `restore` ends): the IDs this
    /// process made, whose files the scan leaves to the intake.
    own: std::sync::Mutex<Option<HashSet<MessageId>>>,
    /// The directory fsync, shared by concurrent commits (group commit).
    dir_sync: Arc<DirSync>,
    /// Files of finished messages, kept for the next commits.
    recycler: Arc<Recycler>,
}

/// A message whose files are written and fsynced under temporary names, not yet visible.
pub struct Staged {
    id: MessageId,
}

/// How many envelopes `read_streamed` hands on first: enough for a screen, read at once.
const FIRST_CHUNK: usize = 50;

/// What a start-up scan found.
#[derive(Debug, Default)]
pub struct Scan {
    /// Committed messages, oldest first (in the directory's order from `read_streamed`).
    pub envelopes: Vec<Envelope>,
    /// Leftovers of writes that never committed (removed unless read-only).
    pub leftovers: Vec<PathBuf>,
    /// Entries that could not be read (a bad envelope, a message without envelope), with
    /// the reason. At start-up they are moved to `corrupt/`, never deleted.
    pub damaged: Vec<(PathBuf, String)>,
    /// File names in `corrupt/` (after this scan's moves), sorted: damage for a person to
    /// look at, reported by `queue` and `check` until someone removes it.
    pub corrupt: Vec<String>,
    /// Entries named like spool files that are not regular files (a FIFO, a device, a
    /// folder): never opened, left where they are, reported.
    pub skipped: Vec<PathBuf>,
}

/// The spool's file names at one moment (see `Spool::list`), to be read by `Spool::read`.
#[derive(Debug, Default)]
pub struct Listing {
    names: Vec<String>,
    skipped: Vec<PathBuf>,
}

/// A message being received, past what is kept in memory: a temporary file in the spool,
/// written in order, read back at the commit. Never fsynced: the commit copies it into the
/// message file, which is.
#[derive(Debug)]
pub struct Spill {
    file: File,
    path: PathBuf,
    len: u64,
}

impl Spill {
    /// Appends bytes.
    pub fn write(&mut self, bytes: &[u8]) -> io::Result<()> {
        (&self.file).write_all(bytes)?;
        self.len += bytes.len() as u64;
        Ok(())
    }

    /// Bytes written.
    pub fn size(&self) -> u64 {
        self.len
    }

    /// Up to `buf.len()` bytes from `offset` (fewer only at the end).
    pub fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
        let mut done = 0;
        while done < buf.len() {
            let n = read_at(&self.file, &mut buf[done..], offset + done as u64)?;
            if n == 0 {
                break;
            }
            done += n;
        }
        Ok(done)
    }
}

impl Drop for Spill {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.path);
    }
}

/// Reads from `offset` without moving the file's cursor where the platform can (Windows'
/// `seek_read` moves it; nothing here depends on it).
#[cfg(unix)]
pub(crate) fn read_at(file: &File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    std::os::unix::fs::FileExt::read_at(file, buf, offset)
}

#[cfg(windows)]
pub(crate) fn read_at(file: &File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    std::os::windows::fs::FileExt::seek_read(file, buf, offset)
}

/// The last part of a message being staged: `len` bytes of `file` from `from`.
#[derive(Clone, Copy)]
struct Tail<'a> {
    file: &'a File,
    from: u64,
    len: u64,
}

/// How many envelopes a scan hands on at a time.
const CHUNK: usize = 1000;

impl Spool {
    /// Opens (creating if needed) the spool directory.
    pub fn open(dir: &Path) -> io::Result<Spool> {
        fs::create_dir_all(dir)?;
        Ok(Spool {
            dir: dir.to_path_buf(),
            ids: IdGenerator::new(),
            own: std::sync::Mutex::new(None),
            dir_sync: Arc::new(DirSync::open(dir)?),
            recycler: Arc::new(Recycler::new(dir)),
        })
    }

    pub fn new_id(&self) -> MessageId {
        let id = self.ids.next();
        if let Some(own) = self.own_ids().as_mut() {
            own.insert(id.clone());
        }
        id
    }

    /// From now until `restore` ends, the IDs this spool hands out are noted: the start-up
    /// scan, running while the server accepts, must not take this run's files for an
    /// earlier run's (by the IDs alone it cannot: the clock may have gone back).
    pub fn track_own_ids(&self) {
        *self.own_ids() = Some(HashSet::new());
    }

    fn own_ids(&self) -> std::sync::MutexGuard<'_, Option<HashSet<MessageId>>> {
        self.own.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether this spool handed out `id` since `track_own_ids`.
    fn is_own(&self, id: &MessageId) -> bool {
        self.own_ids().as_ref().is_some_and(|own| own.contains(id))
    }

    fn path(&self, id: &MessageId, ext: &str) -> PathBuf {
        self.dir.join(format!("{id}.{ext}"))
    }

    fn tmp_path(&self, id: &MessageId, ext: &str) -> PathBuf {
        self.dir.join(format!("{id}.{ext}.{TMP}"))
    }

    /// Writes and fsyncs the message (given as parts, written in order) and its envelope under
    /// temporary names. Nothing is visible yet; on error nothing is left behind.
    pub fn stage(&self, env: &Envelope, message: &[&[u8]]) -> io::Result<Staged> {
        self.stage_with_tail(env, message, None)
    }

    /// `stage` of a message whose last part is a range of another file (a message received
    /// into a `Spill`), copied after the parts.
    fn stage_with_tail(
        &self,
        env: &Envelope,
        message: &[&[u8]],
        tail: Option<Tail<'_>>,
    ) -> io::Result<Staged> {
        let id = env.id.clone();
        let msg_tmp = self.tmp_path(&id, MSG);
        let env_tmp = self.tmp_path(&id, ENV);
        // Both files are written and their write-back started before either fsync, so both
        // are on their way to disk while the first fsync waits and the second one mostly
        // finds its work done (on a journalled ext4, the first fsync's commit also carries
        // the second file's metadata).
        // On failure only the files this call created are removed: an `AlreadyExists` path
        // belongs to someone else.
        let recycler = &self.recycler;
        let msg = create_written(recycler, &msg_tmp, message, tail)?;
        start_writeback(&msg);
        let env = match create_written(
            recycler,
            &env_tmp,
            &[envelope::render(env).as_bytes()],
            None,
        ) {
            Ok(env) => env,
            Err(e) => {
                let _ = fs::remove_file(&msg_tmp);
                return Err(e);
            }
        };
        start_writeback(&env);
        if let Err(e) = msg.sync_all().and_then(|()| env.sync_all()) {
            let _ = fs::remove_file(&msg_tmp);
            let _ = fs::remove_file(&env_tmp);
            return Err(e);
        }
        Ok(Staged { id })
    }

    /// Makes staged messages visible: renames each, then a directory fsync that started after
    /// the renames (shared with concurrent publishers: group commit). Once this returns Ok,
    /// they survive a crash. On error, the unpublished ones are removed.
    pub fn publish(&self, staged: &[Staged]) -> io::Result<()> {
        let mut result = Ok(());
        for s in staged {
            if result.is_ok() {
                result = dirsync::rename(&self.tmp_path(&s.id, MSG), &self.path(&s.id, MSG))
                    .and_then(|()| {
                        dirsync::rename(&self.tmp_path(&s.id, ENV), &self.path(&s.id, ENV))
                    });
            }
            if result.is_err() {
                self.discard(&s.id);
            }
        }
        result?;
        // Not durable, so not accepted: the caller answers 4xx, and a message kept here
        // anyway would come back at the next start-up as a second copy of the client's retry.
        self.dir_sync.sync().inspect_err(|_| {
            for s in staged {
                self.discard(&s.id);
            }
        })
    }

    /// Stage + publish of one message: the durable commit before `250`.
    pub fn commit(&self, env: &Envelope, message: &[&[u8]]) -> io::Result<()> {
        let staged = self.stage(env, message)?;
        self.publish(std::slice::from_ref(&staged))
    }

    /// `commit` of a message whose content was received into `spill`: the parts, then the
    /// spill file's bytes from `from` to its end (copied file to file, never all in memory).
    pub fn commit_spilled(
        &self,
        env: &Envelope,
        parts: &[&[u8]],
        spill: &Spill,
        from: u64,
    ) -> io::Result<()> {
        let tail = Tail {
            file: &spill.file,
            from,
            len: spill.len.saturating_sub(from),
        };
        let staged = self.stage_with_tail(env, parts, Some(tail))?;
        self.publish(std::slice::from_ref(&staged))
    }

    /// A new temporary file for a message being received (`ID.part.tmp`, readable by the
    /// server's user only): removed when dropped, and by the start-up scan after a crash.
    pub fn spill(&self) -> io::Result<Spill> {
        let path = self.tmp_path(&self.new_id(), PART);
        let mut options = OpenOptions::new();
        options.read(true).write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let file = options.open(&path)?;
        Ok(Spill { file, path, len: 0 })
    }

    fn discard(&self, id: &MessageId) {
        for p in [
            self.tmp_path(id, MSG),
            self.tmp_path(id, ENV),
            self.path(id, MSG),
            self.path(id, ENV),
        ] {
            let _ = fs::remove_file(p);
        }
    }

    /// Where a committed message's file is (`ID.msg`).
    pub fn message_path(&self, id: &MessageId) -> PathBuf {
        self.path(id, MSG)
    }

    /// Where a message's step record is (`ID.steps`).
    pub fn steps_path(&self, id: &MessageId) -> PathBuf {
        self.path(id, STEPS)
    }

    /// Starts the step record of a message just committed, before the scheduler knows of it
    /// (the intake's notes, e.g. why it is not signed); from then on only the scheduler's
    /// `StateWriter` appends.
    pub fn note(&self, id: &MessageId, text: &str) -> io::Result<()> {
        append_steps(&self.steps_path(id), text)
    }

    /// Reads a committed message's file.
    pub fn read_message(&self, id: &MessageId) -> io::Result<Vec<u8>> {
        fs::read(self.path(id, MSG))
    }

    /// The step records of the attempts so far (empty when none).
    pub fn read_record(&self, id: &MessageId) -> io::Result<String> {
        match fs::read_to_string(self.path(id, STEPS)) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(String::new()),
            other => other,
        }
    }

    pub fn read_envelope(&self, id: &MessageId) -> io::Result<Result<Envelope, EnvelopeError>> {
        Ok(envelope::parse(&fs::read_to_string(self.path(id, ENV))?))
    }

    /// Lists the spool. With `clean_up` (the server's start-up, when no write of an earlier
    /// run can be in progress), leftovers of uncommitted writes are removed and damage moved
    /// aside, as `restore` does; the envelopes are returned oldest first either way.
    pub fn scan(&self, clean_up: bool) -> io::Result<Scan> {
        if clean_up {
            let mut envelopes = Vec::new();
            let mut scan = self.restore_as(&|_| false, None, |found| envelopes.extend(found))?;
            envelopes.sort_by(|a, b| a.id.cmp(&b.id));
            scan.envelopes = envelopes;
            return Ok(scan);
        }
        self.read(self.list()?, |_| {})
    }

    /// The first, quick part of a read-only scan: the file names as they are now (one
    /// directory read), without opening any file. Files written after this are not in the
    /// listing.
    pub fn list(&self) -> io::Result<Listing> {
        let mut listing = Listing::default();
        for entry in fs::read_dir(&self.dir)? {
            let entry = entry?;
            let Ok(name) = entry.file_name().into_string() else {
                continue;
            };
            if name.starts_with(recycle::PREFIX) {
                continue;
            }
            // A FIFO or a device named like a spool file would block the read: never open it.
            let regular = entry.file_type().is_ok_and(|t| t.is_file());
            if !regular && classify(&name).is_some() {
                listing.skipped.push(self.dir.join(&name));
                continue;
            }
            listing.names.push(name);
        }
        listing.names.sort();
        Ok(listing)
    }

    /// Takes away every announcement (at start-up, before the spool watcher starts): the
    /// start-up scan finds those messages itself (see `restore`).
    pub fn unannounce_all(&self) -> io::Result<()> {
        for id in self.announced()? {
            self.unannounce(&id);
        }
        Ok(())
    }

    /// The second part of a scan: reads the listed envelopes, oldest first, handing them to
    /// `chunk` a thousand at a time as they are read (it may take them out of the `Vec`; what
    /// it leaves is in the returned `Scan`). Removes nothing: leftovers and damage are only
    /// reported (the server's start-up scan is `restore`).
    pub fn read(
        &self,
        listing: Listing,
        chunk: impl FnMut(&mut Vec<Envelope>),
    ) -> io::Result<Scan> {
        let scan = Scan {
            skipped: listing.skipped,
            ..Scan::default()
        };
        let names = listing.names;
        // Looked up by name for every file: a set keeps the scan linear in the spool's size.
        let present: HashSet<&str> = names.iter().map(String::as_str).collect();
        let has = |id: &MessageId, ext: &str| present.contains(format!("{id}.{ext}").as_str());
        let entries = names.iter().map(|name| Ok((name.clone(), true)));
        self.read_entries(entries, scan, has, CHUNK, chunk)
    }

    /// `qksmtp queue`'s read: what `list` and `read` find, but one directory entry at a time,
    /// in the directory's order rather than oldest first, so that the first envelopes are
    /// handed on at once whatever the spool's size (the first few dozen, then a thousand at a
    /// time); a sibling file is looked up on disk. No list of every name is held.
    pub fn read_streamed(&self, chunk: impl FnMut(&mut Vec<Envelope>)) -> io::Result<Scan> {
        let entries = fs::read_dir(&self.dir)?.filter_map(|entry| {
            let entry = match entry {
                Ok(entry) => entry,
                Err(e) => return Some(Err(e)),
            };
            let name = entry.file_name().into_string().ok()?;
            Some(Ok((name, entry.file_type().is_ok_and(|t| t.is_file()))))
        });
        let has = |id: &MessageId, ext: &str| self.path(id, ext).exists();
        self.read_entries(entries, Scan::default(), has, FIRST_CHUNK, chunk)
    }

    /// Reads the envelopes of `entries` (name, whether a regular file) into `scan`, handing
    /// them to `chunk` as they come: `first` in the first hand-over, `CHUNK` after that.
    /// `has(id, ext)` says whether `ID.ext` is in the spool.
    fn read_entries(
        &self,
        entries: impl Iterator<Item = io::Result<(String, bool)>>,
        mut scan: Scan,
        has: impl Fn(&MessageId, &str) -> bool,
        first: usize,
        mut chunk: impl FnMut(&mut Vec<Envelope>),
    ) -> io::Result<Scan> {
        let (mut fresh, mut size) = (0, first);
        for entry in entries {
            let (name, regular) = entry?;
            let name = name.as_str();
            if name.starts_with(recycle::PREFIX) {
                continue;
            }
            // A FIFO or a device named like a spool file would block the read: never open it.
            if !regular && classify(name).is_some() {
                scan.skipped.push(self.dir.join(name));
                continue;
            }
            let path = self.dir.join(name);
            match classify(name) {
                Some((id, Kind::Envelope)) if !has(&id, MSG) => {
                    let why = "envelope without its message file (the message cannot be sent)";
                    scan.damaged.push((path, why.into()));
                }
                Some((id, Kind::Envelope)) => match self.read_envelope(&id) {
                    Ok(Ok(env)) if env.id == id => {
                        scan.envelopes.push(env);
                        fresh += 1;
                        if fresh == size {
                            chunk(&mut scan.envelopes);
                            (fresh, size) = (0, CHUNK);
                        }
                    }
                    Ok(Ok(_)) => scan
                        .damaged
                        .push((path, "envelope names another message".into())),
                    Ok(Err(e)) => scan.damaged.push((path, e.to_string())),
                    // Finished and removed since the listing (the server runs).
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                    Err(e) => scan
                        .damaged
                        .push((path, format!("unreadable envelope: {e}"))),
                },
                // Killed between the two renames of `publish`, or inside `remove`: the
                // envelope is still (or again) a temp file. Not committed, or finished.
                Some((id, Kind::Message))
                    if !has(&id, ENV) && has(&id, &format!("{ENV}.{TMP}")) =>
                {
                    scan.leftovers.push(path)
                }
                // Removed, or committed, while the directory was being read (the server
                // runs): not damage.
                Some((id, Kind::Message))
                    if !has(&id, ENV) && (!path.exists() || self.path(&id, ENV).exists()) => {}
                Some((id, Kind::Message)) if !has(&id, ENV) => {
                    let why = "message file without envelope (a write that never completed, or a lost envelope)";
                    scan.damaged.push((path, why.into()));
                }
                Some((id, Kind::Steps)) if !has(&id, ENV) => scan.leftovers.push(path),
                Some((_, Kind::Temp)) => scan.leftovers.push(path),
                Some((_, Kind::Message | Kind::Steps)) | None => {}
            }
        }
        if fresh > 0 {
            chunk(&mut scan.envelopes);
        }
        scan.corrupt = self.corrupt_files()?;
        Ok(scan)
    }

    /// Announces a committed message to the running server (see `INCOMING`).
    pub fn announce(&self, id: &MessageId) -> io::Result<()> {
        let dir = self.dir.join(INCOMING);
        fs::create_dir_all(&dir)?;
        File::create(dir.join(id.as_str())).map(drop)
    }

    /// The messages announced so far (none when nothing was).
    pub fn announced(&self) -> io::Result<Vec<MessageId>> {
        match fs::read_dir(self.dir.join(INCOMING)) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Vec::new()),
            Err(e) => Err(e),
            Ok(entries) => Ok(entries
                .filter_map(|e| e.ok()?.file_name().into_string().ok())
                .filter_map(|name| MessageId::parse(&name))
                .collect()),
        }
    }

    /// Takes an announcement away (once the server knows the message, or it is gone).
    pub fn unannounce(&self, id: &MessageId) {
        let _ = fs::remove_file(self.dir.join(INCOMING).join(id.as_str()));
    }

    /// The file names in `corrupt/`, sorted (none when it does not exist).
    pub fn corrupt_files(&self) -> io::Result<Vec<String>> {
        let mut names = Vec::new();
        match fs::read_dir(self.corrupt_dir()) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
            Ok(entries) => {
                for entry in entries {
                    names.push(entry?.file_name().to_string_lossy().into_owned());
                }
            }
        }
        names.sort();
        Ok(names)
    }

    /// The folder where damaged entries are kept for a person to look at.
    pub fn corrupt_dir(&self) -> PathBuf {
        self.dir.join(CORRUPT)
    }

    /// Moves every file of the damaged entry's message (`ID.*`) into `corrupt/`.
    fn move_aside(&self, damaged: &Path) -> io::Result<()> {
        let Some(id) = damaged
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.split('.').next())
        else {
            return Ok(());
        };
        let corrupt = self.corrupt_dir();
        fs::create_dir_all(&corrupt)?;
        for ext in [MSG, ENV, STEPS] {
            let from = self.dir.join(format!("{id}.{ext}"));
            if from.exists() {
                dirsync::rename(&from, &corrupt.join(format!("{id}.{ext}")))?;
            }
        }
        sync_dir(&corrupt)
    }

    /// The one writer of recipient state after the commit. Create it once, in the scheduler.
    pub fn state_writer(&self) -> StateWriter {
        StateWriter {
            dir: self.dir.clone(),
            dir_sync: self.dir_sync.clone(),
            recycler: self.recycler.clone(),
            records: None,
        }
    }
}

enum Kind {
    Message,
    Envelope,
    Steps,
    Temp,
}

fn classify(name: &str) -> Option<(MessageId, Kind)> {
    let (id, ext) = name.split_once('.')?;
    let id = MessageId::parse(id)?;
    let kind = match ext {
        MSG => Kind::Message,
        ENV => Kind::Envelope,
        STEPS => Kind::Steps,
        e if e.ends_with(TMP) => Kind::Temp,
        _ => return None,
    };
    Some((id, kind))
}

/// Rewrites envelopes (temp + fsync + rename + dir fsync) and removes finished messages.
/// Not `Clone`: the scheduler owns the only one.
pub struct StateWriter {
    dir: PathBuf,
    dir_sync: Arc<DirSync>,
    recycler: Arc<Recycler>,
    /// With `track_records`: the messages that may have a step record file (so `remove`
    /// does not try to delete one that was never written). `None`: any may have one.
    records: Option<HashSet<MessageId>>,
}

impl StateWriter {
    pub fn rewrite(&mut self, env: &Envelope) -> io::Result<()> {
        let tmp = self.dir.join(format!("{}.{ENV}.{TMP}", env.id));
        // On any failure the temp file goes, so that the next rewrite can create it again;
        // the previous envelope stays in place.
        write_new(&self.recycler, &tmp, &[envelope::render(env).as_bytes()])
            .and_then(|()| dirsync::rename(&tmp, &self.dir.join(format!("{}.{ENV}", env.id))))
            .inspect_err(|_| {
                let _ = fs::remove_file(&tmp);
            })?;
        self.dir_sync.sync()
    }

    /// From now on this writer knows which messages have a step record file: those it
    /// appends to, and `existing` (messages found in the spool, which may have one).
    pub fn track_records(&mut self, existing: impl IntoIterator<Item = MessageId>) {
        self.records = Some(existing.into_iter().collect());
    }

    /// With `track_records`: more messages that may have a step record (found by a scan).
    pub fn track_more(&mut self, existing: impl IntoIterator<Item = MessageId>) {
        if let Some(records) = &mut self.records {
            records.extend(existing);
        }
    }

    /// Appends an attempt's step record (not fsynced: it explains, it does not decide).
    pub fn append_record(&mut self, id: &MessageId, text: &str) -> io::Result<()> {
        if let Some(records) = &mut self.records {
            records.insert(id.clone());
        }
        append_steps(&self.dir.join(format!("{id}.{STEPS}")), text)
    }

    /// Removes a finished message. The envelope is first renamed back to `ID.env.tmp`, so a
    /// crash at any point leaves either the committed message or `ID.msg` + `ID.env.tmp`,
    /// which start-up removes as an unfinished write (a lone `ID.msg` is damage, kept in
    /// `corrupt/`). Not fsynced: if a crash undoes the removal, the message is delivered
    /// again (at least once), never lost; this saves a directory fsync per delivered message.
    /// With `keep`, the message file is moved into the history folder (`history/ID.msg`)
    /// instead, for the history to copy and then park (`recycler`).
    pub fn remove(&mut self, id: &MessageId, keep: bool) -> io::Result<()> {
        let tmp = self.dir.join(format!("{id}.{ENV}.{TMP}"));
        fs::rename(self.dir.join(format!("{id}.{ENV}")), &tmp)?;
        let msg = self.dir.join(format!("{id}.{MSG}"));
        let kept = self.dir.join(HISTORY).join(format!("{id}.{MSG}"));
        if !keep || fs::rename(&msg, kept).is_err() {
            // The files are emptied and kept for the next commits (see `recycle`).
            let _ = self.recycler.park(&msg);
        }
        if self.records.as_mut().is_none_or(|r| r.remove(id)) {
            let _ = fs::remove_file(self.dir.join(format!("{id}.{STEPS}")));
        }
        let _ = self.recycler.park(&tmp);
        Ok(())
    }
}

impl StateWriter {
    /// Parks a file of the spool's file system for the next commits, like a finished
    /// message's (the history's copier, once it has copied a kept message's bytes).
    pub fn recycler(&self) -> impl Fn(&Path) -> io::Result<()> + Send + Sync + 'static {
        let recycler = self.recycler.clone();
        move |path| recycler.park(path)
    }
}

/// Appends `text` to a step record file, creating it for the server's user only (addresses
/// and remote replies, like the messages). Not fsynced: it explains, it does not decide.
fn append_steps(path: &Path, text: &str) -> io::Result<()> {
    let mut options = OpenOptions::new();
    options.create(true).append(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)?.write_all(text.as_bytes())
}

/// Creates `path` exclusively, writes the parts, fsyncs.
fn write_new(recycler: &Recycler, path: &Path, parts: &[&[u8]]) -> io::Result<()> {
    create_written(recycler, path, parts, None)?.sync_all()
}

/// Creates `path` exclusively (from a recycled file when there is one) and writes the parts,
/// then the tail if any (the caller fsyncs). `AlreadyExists` when `path` exists (left alone);
/// after any other failure `path` is gone.
fn create_written(
    recycler: &Recycler,
    path: &Path,
    parts: &[&[u8]],
    tail: Option<Tail<'_>>,
) -> io::Result<File> {
    let mut options = OpenOptions::new();
    let taken = recycler.take(path)?;
    match taken {
        Taken::Nothing => options.write(true).create_new(true),
        Taken::Empty | Taken::Used => options.write(true),
    };
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let file = options.open(path)?;
    let len = parts.iter().map(|p| p.len() as u64).sum::<u64>() + tail.map_or(0, |t| t.len);
    write_parts(file, parts)
        .and_then(|file| match tail {
            Some(tail) => copy_tail(file, tail),
            None => Ok(file),
        })
        .and_then(|file| {
            // A used file is written over in place, then cut to length: the blocks it has
            // are reused, none freed (see `recycle`).
            if taken == Taken::Used {
                file.set_len(len)?;
            }
            Ok(file)
        })
        .inspect_err(|_| {
            let _ = fs::remove_file(path);
        })
}

/// Writes all `parts` to `file`, in one system call normally: a vectored write, continued if
/// it was short.
fn write_parts(mut file: File, parts: &[&[u8]]) -> io::Result<File> {
    let mut slices: Vec<IoSlice> = parts.iter().map(|p| IoSlice::new(p)).collect();
    let mut slices = &mut slices[..];
    IoSlice::advance_slices(&mut slices, 0);
    while !slices.is_empty() {
        match file.write_vectored(slices) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => IoSlice::advance_slices(&mut slices, n),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(file)
}

/// Appends `tail` to `file` (in the kernel where the system can: `copy_file_range`).
/// Never inlined: `io::copy` keeps an 8 KiB buffer on the stack for systems without that call,
/// and inlined into `create_written` its frame's stack probes touched two more pages of every
/// session thread's stack at every message, tail or not (issue 20: 24 KB a session thread).
#[inline(never)]
fn copy_tail(mut file: File, tail: Tail<'_>) -> io::Result<File> {
    use std::io::{Read, Seek, SeekFrom};
    let mut source = tail.file;
    source.seek(SeekFrom::Start(tail.from))?;
    let copied = io::copy(&mut source.take(tail.len), &mut file)?;
    if copied != tail.len {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "the received message file is shorter than what was received",
        ));
    }
    Ok(file)
}

/// Starts writing a file's dirty pages to disk without waiting (Linux `sync_file_range`);
/// elsewhere nothing (the fsync does it all). Only a head start: durability is the fsync's.
fn start_writeback(file: &File) {
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        // SAFETY: a plain system call on an open descriptor; no memory is passed.
        unsafe {
            libc::sync_file_range(file.as_raw_fd(), 0, 0, libc::SYNC_FILE_RANGE_WRITE);
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = file;
}

/// Makes renames and removals in `dir` durable.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        File::open(dir)?.sync_all()
    }
    #[cfg(not(unix))]
    {
        let _ = dir;
        Ok(())
    }
}

#[cfg(test)]
mod tests;
