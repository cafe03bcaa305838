//! The DKIM-Signature header (RFC 6376 §3.5, §5): tags in a fixed order, folded at about 76
//! columns, `bh=` over the canonical body, `b=` over the signed fields and this header with
//! `b=` empty (§3.7). Pure but for RSA blinding, which does not change the bytes.

use super::canon::{self, Field};
use super::{DkimError, Signer};
use crate::time::Timestamp;
use base64ct::{Base64, Encoding};
use sha2::{Digest, Sha256};

/// Lines of a header being folded: a piece goes on the current line when it fits in `WIDTH`
/// columns, else on a new line that starts with a tab.
struct Folder {
    text: String,
    column: usize,
}

const WIDTH: usize = 76;

impl Folder {
    fn new(start: &str) -> Folder {
        Folder {
            text: start.to_string(),
            column: start.len(),
        }
    }

    /// Adds `piece`, after `gap` when it stays on the same line.
    fn push(&mut self, gap: &str, piece: &str) {
        if self.column + gap.len() + piece.len() > WIDTH {
            self.text.push_str("\r\n\t");
            self.column = 8;
        } else {
            self.text.push_str(gap);
            self.column += gap.len();
        }
        self.text.push_str(piece);
        self.column += piece.len();
    }
}

impl Signer {
    /// The `h=` names for this message: each configured name as many times as the message
    /// has it, From once more (over-signing; also when the message has none).
    pub(super) fn signed_names<'s>(&'s self, fields: &[Field<'_>]) -> Vec<&'s str> {
        let mut names = Vec::new();
        let mut seen: Vec<&str> = Vec::new();
        for name in &self.headers {
            if seen.iter().any(|s| s.eq_ignore_ascii_case(name)) {
                continue;
            }
            seen.push(name);
            let present = fields
                .iter()
                .filter(|f| f.name.eq_ignore_ascii_case(name.as_bytes()))
                .count();
            let extra = usize::from(name.eq_ignore_ascii_case("from"));
            names.extend(std::iter::repeat_n(name.as_str(), present + extra));
        }
        if !seen.iter().any(|s| s.eq_ignore_ascii_case("from")) {
            let present = fields
                .iter()
                .filter(|f| f.name.eq_ignore_ascii_case(b"from"));
            names.extend(std::iter::repeat_n("From", present.count() + 1));
        }
        names
    }

    /// The `DKIM-Signature:` header line (folded, with its CRLF) for `message` at `now`.
    pub fn sign(&self, message: &[u8], now: Timestamp) -> Result<Vec<u8>, DkimError> {
        let (fields, body) = canon::split(message);
        let mut body_hash = Sha256::new();
        canon::body(body, self.canonicalization.1, &mut |piece| {
            body_hash.update(piece)
        });
        self.sign_fields(&fields, &body_hash.finalize().into(), now)
    }

    /// The same header line for a message whose body was hashed as it streamed by
    /// (`BodyHasher` with this signer's body canonicalization): `header` is the message's
    /// header block (its fields; anything after a first empty line is ignored).
    pub fn sign_hashed(
        &self,
        header: &[u8],
        body_hash: &[u8; 32],
        now: Timestamp,
    ) -> Result<Vec<u8>, DkimError> {
        let (fields, _) = canon::split(header);
        self.sign_fields(&fields, body_hash, now)
    }

    fn sign_fields(
        &self,
        fields: &[Field<'_>],
        body_hash: &[u8; 32],
        now: Timestamp,
    ) -> Result<Vec<u8>, DkimError> {
        let (header_canon, body_canon) = self.canonicalization;
        let names = self.signed_names(fields);

        let mut h = Folder::new("DKIM-Signature:");
        let t = now.as_secs();
        let c = format!("c={}/{};", header_canon.name(), body_canon.name());
        h.push(" ", &format!("v=1; a={};", self.algorithm().name()));
        h.push(" ", &c);
        h.push(" ", &format!("d={};", self.domain));
        h.push(" ", &format!("s={};", self.selector));
        h.push(" ", &format!("t={t};"));
        if let Some(expire) = self.expire {
            h.push(" ", &format!("x={};", t + expire.as_secs().max(1)));
        }
        for (i, name) in names.iter().enumerate() {
            let piece = match (i == 0, i + 1 == names.len()) {
                (true, true) => format!("h={name};"),
                (true, false) => format!("h={name}:"),
                (false, true) => format!("{name};"),
                (false, false) => format!("{name}:"),
            };
            h.push(if i == 0 { " " } else { "" }, &piece);
        }
        let bh = Base64::encode_string(body_hash);
        h.push(" ", &format!("bh={bh};"));
        h.push(" ", "b=");

        let mut signed = Sha256::new();
        for field in canon::select(fields, &names).into_iter().flatten() {
            signed.update(canon::header(field, header_canon));
        }
        let (own, _) = canon::split(h.text.as_bytes());
        let own = canon::header(&own[0], header_canon);
        signed.update(own.strip_suffix(b"\r\n").unwrap_or(&own));
        let signature = self.key.sign_digest(&signed.finalize())?;

        let b = Base64::encode_string(&signature);
        let mut rest = b.as_str();
        while !rest.is_empty() {
            // What fits on this line; when little does, a full new line's worth.
            let room = match WIDTH.saturating_sub(h.column) {
                room if room < 8 => WIDTH - 8,
                room => room,
            };
            let (piece, after) = rest.split_at(room.min(rest.len()));
            h.push("", piece);
            rest = after;
        }
        h.text.push_str("\r\n");
        Ok(h.text.into_bytes())
    }
}
