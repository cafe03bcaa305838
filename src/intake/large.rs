//! The commit of a message received into a file (`content::Received::Spilled`): the same
//! preparation and seal as a message in memory, from the file's first `IN_MEMORY` bytes (the
//! header block) and the DKIM body hashes computed reading the file in pieces; the message
//! file is our header lines, the client's header block, then the rest copied file to file.
//!
//! A header block longer than `IN_MEMORY` is read as far as it goes there: its facts (hops,
//! Message-ID, Date) are those of that part, no empty line is added after it, and the message
//! is not DKIM-signed (a person's mail never has such a header; a signature over part of one
//! would not verify).

use super::content::IN_MEMORY;
use super::message::{self, Trace};
use super::{Intake, IntakeError, Submission, Unsigned};
use crate::config::Config;
use crate::dkim::{self, BodyHasher, Canon, Signer};
use crate::spool::Spill;
use crate::spool::envelope::Envelope;
use crate::time::Timestamp;
use log::{info, warn};
use std::io;

/// How much of the file is read at a time for the body hashes.
const PIECE: usize = 64 * 1024;

impl Intake {
    /// `commit` for a message in `spill`; with why it goes unsigned, when keys are set but
    /// none signed it.
    pub(super) fn commit_spilled(
        &self,
        config: &Config,
        signers: &[Signer],
        sub: &Submission,
        spill: &Spill,
        now: Timestamp,
    ) -> Result<(Envelope, Option<Unsigned>), IntakeError> {
        let mut head = vec![0; IN_MEMORY.min(spill.size() as usize)];
        let n = spill.read_at(0, &mut head).map_err(IntakeError::Store)?;
        head.truncate(n);
        let mut last_error = None;
        let subject = crate::headers::subject(&head);
        for _ in 0..3 {
            let id = self.spool.new_id();
            let trace = Trace::of(sub, &config.server.hostname, id.as_str(), now);
            let prepared = message::prepare(&trace, &head, config.server.max_hops)
                .map_err(IntakeError::TooManyHops)?;
            let block = prepared.head;
            let after = &head[block.len()..];
            // The block ended inside what was read: at a whole line that is not a field, or
            // with the message.
            let complete = after.contains(&b'\n') || head.len() as u64 == spill.size();
            let separator = prepared.separator && complete;
            let header = [&prepared.prefix[..], block].concat();
            let (signatures, note) = if signers.is_empty() {
                (Vec::new(), None)
            } else if complete {
                let body_at = block.len() + if separator { 0 } else { blank_line(after) };
                signatures(signers, &header, spill, body_at as u64, id.as_str(), now)
            } else {
                let why = format!("not signed: a header block longer than {IN_MEMORY} bytes");
                info!("{id}: {why}");
                (Vec::new(), Some(Unsigned(why)))
            };
            let sep: &[u8] = if separator { b"\r\n" } else { b"" };
            let parts = [&signatures[..], &header, sep];
            let size = parts.iter().map(|p| p.len() as u64).sum::<u64>() + spill.size();
            let size = size - block.len() as u64;
            let env = super::new_envelope(id.clone(), sub, (size, subject.clone()), now);
            match self
                .spool
                .commit_spilled(&env, &parts, spill, block.len() as u64)
            {
                Ok(()) => return Ok((env, note)),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => last_error = Some(e),
                Err(e) => return Err(IntakeError::Store(e)),
            }
        }
        let e = last_error.unwrap_or_else(|| io::Error::other("no free message ID"));
        Err(IntakeError::Store(e))
    }
}

/// The length of the empty line that `after` (what follows the header block) starts with.
fn blank_line(after: &[u8]) -> usize {
    if after.starts_with(b"\r\n") {
        2
    } else if after.starts_with(b"\n") || after.starts_with(b"\r") {
        1
    } else {
        0
    }
}

/// The DKIM-Signature lines of the signers `dkim::choose` picks for the message whose header
/// block is `header` and whose body is `spill` from `body_at` (as `seal` does for a message in
/// memory); a signer that fails, or a file that cannot be read, is logged and leaves the
/// message unsigned by it. The second value says why no signature was made, if none was.
fn signatures(
    signers: &[Signer],
    header: &[u8],
    spill: &Spill,
    body_at: u64,
    id: &str,
    now: Timestamp,
) -> (Vec<u8>, Option<Unsigned>) {
    let from = dkim::from_domain(header);
    let chosen = dkim::choose(signers, from.as_deref());
    if chosen.is_empty() {
        let note = Unsigned::no_key(from.as_deref());
        info!("{id}: {}", note.0);
        return (Vec::new(), Some(note));
    }
    let mut canons: Vec<Canon> = chosen.iter().map(|s| s.canonicalization.1).collect();
    canons.dedup();
    let hashes = match body_hashes(spill, body_at, &canons) {
        Ok(hashes) => hashes,
        Err(e) => {
            let why = format!("not signed: cannot read the received message: {e}");
            warn!("{id}: {why}");
            return (Vec::new(), Some(Unsigned(why)));
        }
    };
    super::sign_each(&chosen, id, |signer| {
        let canon = signer.canonicalization.1;
        let (_, hash) = hashes.iter().find(|(c, _)| *c == canon)?;
        Some(signer.sign_hashed(header, hash, now))
    })
}

/// The body hash of each canonicalization, reading the file from `from` a piece at a time.
fn body_hashes(spill: &Spill, from: u64, canons: &[Canon]) -> io::Result<Vec<(Canon, [u8; 32])>> {
    let mut hashers: Vec<BodyHasher> = canons.iter().map(|&c| BodyHasher::new(c)).collect();
    let mut piece = vec![0; PIECE];
    let mut at = from;
    loop {
        let n = spill.read_at(at, &mut piece)?;
        if n == 0 {
            break;
        }
        for h in &mut hashers {
            h.update(&piece[..n]);
        }
        at += n as u64;
    }
    Ok(hashers
        .into_iter()
        .map(|h| (h.canon(), h.finish()))
        .collect())
}
