//! A finished message's bytes kept with its record: copied into its segment's body file by
//! the copier thread (`copier`), read back by offset (`Kept::open`), erased by `qksmtp
//! delete` (`Kept::forget`). Until the copy is done (or when it failed) the bytes are in the
//! message's own file, `ID.msg`, which the reader falls back to. A span whose first byte is
//! NUL was erased (a message starts with a header, never NUL) or never copied.

use super::{BODIES, MSG, Place, Recycle, Span, bodies_name, read_all};
use crossbeam_channel::Receiver;
use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// Where a finished message's bytes are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Kept {
    /// Its segment's body file and its span there.
    pub bodies: Option<(PathBuf, Span)>,
    /// Its own file: before the copy, or a record of before body files.
    pub file: PathBuf,
}

/// `Kept` of message `id` with its record at `place` in the journal folder `dir`.
pub fn kept_in(dir: &Path, id: &impl fmt::Display, place: Option<Place>) -> Kept {
    Kept {
        bodies: place.and_then(|p| Some((dir.join(bodies_name(p.segment)), p.body?))),
        file: dir.join(format!("{id}.{MSG}")),
    }
}

/// Finds the newest record of `id` in the journal of `spool_dir` (the server stopped).
pub fn locate(spool_dir: &Path, id: &impl fmt::Display) -> io::Result<Option<Kept>> {
    let id = id.to_string();
    let mut found = None;
    read_all(spool_dir, None, |record, place| {
        if record.envelope.id.as_str() == id {
            found = Some(place);
        }
    })?;
    let dir = spool_dir.join(super::DIR);
    Ok(found.map(|place| kept_in(&dir, &id, Some(place))))
}

impl Kept {
    /// A reader of the bytes and their length; `NotFound` when they are gone (pruned,
    /// deleted).
    pub fn open(&self) -> io::Result<(Box<dyn Read + Send>, u64)> {
        if let Some(found) = self.in_bodies()? {
            return Ok(found);
        }
        match File::open(&self.file) {
            Ok(f) => {
                let len = f.metadata()?.len();
                Ok((Box::new(f), len))
            }
            // Copied, and handed back to the spool, since the body file was looked at.
            Err(e) if e.kind() == io::ErrorKind::NotFound => self
                .in_bodies()?
                .ok_or_else(|| io::ErrorKind::NotFound.into()),
            Err(e) => Err(e),
        }
    }

    /// The bytes in the body file, if they are all there and not erased.
    fn in_bodies(&self) -> io::Result<Option<(Box<dyn Read + Send>, u64)>> {
        let Some((path, span)) = &self.bodies else {
            return Ok(None);
        };
        let mut file = match File::open(path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        if file.metadata()?.len() < span.offset + span.len {
            return Ok(None);
        }
        file.seek(SeekFrom::Start(span.offset))?;
        let mut first = [0];
        file.read_exact(&mut first)?;
        if first[0] == 0 {
            return Ok(None);
        }
        file.seek(SeekFrom::Start(span.offset))?;
        Ok(Some((Box::new(file.take(span.len)), span.len)))
    }

    /// Erases the bytes (`qksmtp delete` of a finished message): removes its own file and
    /// writes zeros over its span; the space is freed with its segment. Whether there were
    /// bytes to erase.
    pub fn forget(&self) -> io::Result<bool> {
        let mut found = std::fs::remove_file(&self.file).is_ok();
        if let Some((path, span)) = &self.bodies
            && self.in_bodies()?.is_some()
        {
            let mut file = OpenOptions::new().write(true).open(path)?;
            file.seek(SeekFrom::Start(span.offset))?;
            let zeros = [0u8; 64 * 1024];
            let mut left = span.len;
            while left > 0 {
                let n = left.min(zeros.len() as u64) as usize;
                file.write_all(&zeros[..n])?;
                left -= n as u64;
            }
            found = true;
        }
        Ok(found)
    }
}

/// One copy for the copier: `from`'s bytes to `span` of the body file `to`.
pub(super) struct Copy {
    pub from: PathBuf,
    pub to: PathBuf,
    pub span: Span,
}

/// The copier thread: copies in order until the journal closes the channel.
pub(super) fn copier(orders: Receiver<Vec<Copy>>, recycle: Option<Recycle>) {
    let mut open = None;
    for order in orders.iter().flatten() {
        finish(copy_one(&mut open, &order), &order, recycle.as_ref());
    }
}

/// After a copy: the file goes back to the spool (or is removed); a failed copy leaves it,
/// to be read from there and removed with its segment.
pub(super) fn finish(copied: io::Result<()>, order: &Copy, recycle: Option<&Recycle>) {
    let gone = match (copied, recycle) {
        (Ok(()), Some(recycle)) => recycle(&order.from),
        (Ok(()), None) => std::fs::remove_file(&order.from),
        (Err(e), _) => {
            if e.kind() != io::ErrorKind::NotFound {
                log::warn!("history: cannot keep {}: {e}", order.from.display());
            }
            Ok(())
        }
    };
    if let Err(e) = gone
        && e.kind() != io::ErrorKind::NotFound
    {
        log::debug!("history: {}: {e}", order.from.display());
    }
}

/// Copies a file into its span of a body file (in the kernel where it can:
/// `copy_file_range`; never all in memory), keeping the body file open for the next.
pub(super) fn copy_one(open: &mut Option<(PathBuf, File)>, order: &Copy) -> io::Result<()> {
    if open.as_ref().is_none_or(|(path, _)| *path != order.to) {
        debug_assert!(order.to.extension().is_some_and(|e| e == BODIES));
        // Created by its first message only: a segment pruned while its copies were still
        // waiting (the copier a whole segment behind) is not made again.
        let mut options = OpenOptions::new();
        options.write(true).create(order.span.offset == 0);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        *open = Some((order.to.clone(), options.open(&order.to)?));
    }
    let (_, to) = open.as_mut().expect("opened above");
    let mut from = File::open(&order.from)?;
    to.seek(SeekFrom::Start(order.span.offset))?;
    let copied = io::copy(&mut (&mut from).take(order.span.len), to)?;
    match copied == order.span.len {
        true => Ok(()),
        false => Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "the message file is shorter than when it finished",
        )),
    }
}
