//! The server's start-up scan, streamed: the spool is read while the server already accepts
//! mail, one directory entry at a time, and the envelopes are handed on a thousand at a time;
//! no list of all the file names is ever held (with 200,000 queued messages that list was
//! most of the start's peak memory).
//!
//! Two passes over the directory. The first tidies: it removes the leftovers of writes that
//! never committed (and files parked by an earlier run) and moves damage to `corrupt/`,
//! before the scheduler knows any message, so nothing it removes can be a file the scheduler
//! is writing. The second reads the envelopes. Files of messages this process made (the IDs
//! the spool noted since `track_own_ids`, called before the listeners opened) are never
//! touched: the intake hands those to the scheduler itself, and their `.tmp` files are
//! commits in progress. Told apart by the noted IDs, not by time: the clock may go back.
//! A sibling file is looked up on disk, not in a listing: the lookups cost a system call
//! each, the listing cost about 100 bytes a file for the whole read.

use super::id::MessageId;
use super::{CHUNK, ENV, Kind, MSG, Scan, Spool, TMP, classify, recycle, sync_dir};
use crate::spool::envelope::Envelope;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// What the first pass does with one directory entry.
#[derive(Debug, PartialEq, Eq)]
enum Tidy {
    /// Not ours to touch (another kind of file, a current file, or a message of this run).
    Keep,
    /// A parked file of an earlier run, or the leftover of a write that never committed.
    Remove,
    /// `ID.env.tmp` of a message whose envelope is gone: a commit cut between its two
    /// renames, or a removal cut short. Removed with its `ID.msg`.
    RemoveWithMessage(MessageId),
    /// A message file without an envelope: damage, moved aside (if still so on disk).
    Orphan(MessageId),
    /// Named like a spool file but not a regular file: never opened, reported.
    Skip,
}

/// Decides the first pass's action for one entry. `has(id, ext)` says whether `ID.ext`
/// exists now; `mine(id)` whether this run made the ID; `own` is the prefix of the files
/// this run's recycler parks.
fn tidy(
    name: &str,
    regular: bool,
    mine: &dyn Fn(&MessageId) -> bool,
    own: Option<&str>,
    has: impl Fn(&MessageId, &str) -> bool,
) -> Tidy {
    if name.starts_with(recycle::PREFIX) {
        return match own.is_some_and(|own| name.starts_with(own)) {
            true => Tidy::Keep,
            false => Tidy::Remove,
        };
    }
    let Some((id, kind)) = classify(name) else {
        return Tidy::Keep;
    };
    if !regular {
        return Tidy::Skip;
    }
    if mine(&id) {
        return Tidy::Keep;
    }
    let env_tmp = format!("{ENV}.{TMP}");
    match kind {
        Kind::Temp if name.ends_with(&env_tmp) && !has(&id, ENV) => Tidy::RemoveWithMessage(id),
        Kind::Temp => Tidy::Remove,
        Kind::Message if has(&id, ENV) => Tidy::Keep,
        Kind::Message if has(&id, &env_tmp) => Tidy::Remove,
        Kind::Message => Tidy::Orphan(id),
        Kind::Steps if has(&id, ENV) => Tidy::Keep,
        Kind::Steps => Tidy::Remove,
        Kind::Envelope => Tidy::Keep,
    }
}

/// Hands envelopes on in chunks of `size`, each sorted oldest first.
struct Batcher<F: FnMut(Vec<Envelope>)> {
    size: usize,
    held: Vec<Envelope>,
    handed: usize,
    to: F,
}

impl<F: FnMut(Vec<Envelope>)> Batcher<F> {
    fn new(size: usize, to: F) -> Self {
        Batcher {
            size,
            held: Vec::new(),
            handed: 0,
            to,
        }
    }

    fn push(&mut self, env: Envelope) {
        self.held.push(env);
        if self.held.len() >= self.size {
            self.flush();
        }
    }

    /// Hands on what is held; returns how many were handed on in all.
    fn flush(&mut self) -> usize {
        if !self.held.is_empty() {
            let mut chunk = std::mem::take(&mut self.held);
            chunk.sort_by(|a, b| a.id.cmp(&b.id));
            self.handed += chunk.len();
            (self.to)(chunk);
        }
        self.handed
    }
}

impl Spool {
    /// The server's start-up scan (see the module's text): removes leftovers, moves damage
    /// to `corrupt/`, and hands the committed messages of earlier runs to `chunk`, a
    /// thousand at a time. The returned `Scan` holds no envelopes. From then on the spool
    /// no longer notes the IDs it hands out.
    pub fn restore(&self, chunk: impl FnMut(Vec<Envelope>)) -> io::Result<Scan> {
        let scan = self.restore_as(
            &|id| self.is_own(id),
            Some(self.recycler.own_prefix()),
            chunk,
        );
        *self.own_ids() = None;
        scan
    }

    /// `restore`, keeping the parked files whose names start with `own` (none: removes them
    /// all, as a start-up does when nothing of this process can be parked yet).
    pub(super) fn restore_as(
        &self,
        mine: &dyn Fn(&MessageId) -> bool,
        own: Option<&str>,
        chunk: impl FnMut(Vec<Envelope>),
    ) -> io::Result<Scan> {
        let mut scan = Scan::default();
        let mut changed = self.tidy(mine, own, &mut scan)?;
        let mut batcher = Batcher::new(CHUNK, chunk);
        for entry in fs::read_dir(&self.dir)? {
            let entry = entry?;
            let Some((id, Kind::Envelope)) = entry.file_name().to_str().and_then(classify) else {
                continue;
            };
            if mine(&id) || !entry.file_type().is_ok_and(|t| t.is_file()) {
                continue;
            }
            let path = entry.path();
            if !self.path(&id, MSG).exists() {
                // Re-checked: an envelope removed meanwhile is a finished message.
                if path.exists() {
                    let why = "envelope without its message file (the message cannot be sent)";
                    changed |= self.set_aside(&mut scan, path, why.into())?;
                }
                continue;
            }
            match self.read_envelope(&id) {
                Ok(Ok(env)) if env.id == id => batcher.push(env),
                Ok(Ok(_)) => {
                    let why = "envelope names another message".into();
                    changed |= self.set_aside(&mut scan, path, why)?;
                }
                Ok(Err(e)) => changed |= self.set_aside(&mut scan, path, e.to_string())?,
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => {
                    let why = format!("unreadable envelope: {e}");
                    changed |= self.set_aside(&mut scan, path, why)?;
                }
            }
        }
        batcher.flush();
        if changed {
            sync_dir(&self.dir)?;
        }
        scan.corrupt = self.corrupt_files()?;
        Ok(scan)
    }

    /// The first pass: removes leftovers (noted in `scan.leftovers`), moves orphans aside
    /// (`scan.damaged`), notes what is not a regular file. True when it changed the folder.
    fn tidy(
        &self,
        mine: &dyn Fn(&MessageId) -> bool,
        own: Option<&str>,
        scan: &mut Scan,
    ) -> io::Result<bool> {
        let has = |id: &MessageId, ext: &str| self.dir.join(format!("{id}.{ext}")).exists();
        let mut changed = false;
        for entry in fs::read_dir(&self.dir)? {
            let entry = entry?;
            let Ok(name) = entry.file_name().into_string() else {
                continue;
            };
            let regular = entry.file_type().is_ok_and(|t| t.is_file());
            let path = entry.path();
            match tidy(&name, regular, mine, own, has) {
                Tidy::Keep => {}
                Tidy::Skip => scan.skipped.push(path),
                Tidy::Remove => changed |= remove(&path, &mut scan.leftovers, name.as_str())?,
                Tidy::RemoveWithMessage(id) => {
                    changed |= remove(&path, &mut scan.leftovers, name.as_str())?;
                    let msg = self.path(&id, MSG);
                    changed |= remove(&msg, &mut scan.leftovers, MSG)?;
                }
                // Re-checked: a `qksmtp send` may have committed its envelope meanwhile.
                Tidy::Orphan(id) if !path.exists() || self.path(&id, ENV).exists() => {}
                Tidy::Orphan(_) => {
                    let why = "message file without envelope (a write that never completed, or a lost envelope)";
                    changed |= self.set_aside(scan, path, why.into())?;
                }
            }
        }
        Ok(changed)
    }

    /// Moves a damaged entry's files to `corrupt/` and notes why. Returns true.
    fn set_aside(&self, scan: &mut Scan, path: PathBuf, why: String) -> io::Result<bool> {
        self.move_aside(&path)?;
        scan.damaged.push((path, why));
        Ok(true)
    }
}

/// Removes a leftover file (gone already is fine), noting it unless it is a parked file.
fn remove(path: &Path, leftovers: &mut Vec<PathBuf>, name: &str) -> io::Result<bool> {
    match fs::remove_file(path) {
        Ok(()) => {
            if !name.starts_with(recycle::PREFIX) {
                leftovers.push(path.to_path_buf());
            }
            Ok(true)
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests;
