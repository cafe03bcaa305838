//! `throttle_on` patterns: a small regular-expression subset matched against a server's reply,
//! ASCII case-insensitive, found anywhere in the line unless anchored.
//!
//! Written here rather than taking the `regex` crate (not otherwise built: it would add three
//! crates and their build time for a handful of short patterns over one reply line). The
//! subset: literal characters, `.`, `\d` `\w` `\s` (and `\D` `\W` `\S`), `\` before any other
//! punctuation for itself, classes `[a-z0-9.]` and `[^...]`, the repeats `*` `+` `?` after
//! one of those, `^` and `$`, and `|` between whole alternatives. Groups and counted repeats
//! (`(`, `)`, `{`, `}`) are refused with a clear error rather than read as something else.

use std::fmt;

/// The replies the big providers slow senders down with (Gmail, Yahoo, Microsoft): what
/// `throttle_on = builtin` stands for, and the default.
pub const BUILTIN: &[&str] = &[
    "4\\.7\\.28",
    "receiving mail at a rate",
    "\\[TSS?\\d+\\]",
    "4\\.7\\.500",
    "4\\.7\\.650",
    "rate limited",
];

/// The word in `throttle_on` that stands for `BUILTIN`.
pub const BUILTIN_WORD: &str = "builtin";

/// The built-in patterns, compiled.
pub fn builtin() -> Vec<Pattern> {
    BUILTIN
        .iter()
        .map(|s| Pattern::new(s).expect("built-in pattern"))
        .collect()
}

/// A `throttle_on` value: patterns separated by commas (a pattern has no use for a comma;
/// `\,` is one), `builtin` for the built-in list; empty = none at all.
pub fn list(value: &str) -> Result<Vec<Pattern>, String> {
    let mut out = Vec::new();
    let mut part = String::new();
    let mut chars = value.chars().peekable();
    let mut parts = Vec::new();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&',') => part.push(chars.next().unwrap_or(',')),
            ',' => parts.push(std::mem::take(&mut part)),
            c => part.push(c),
        }
    }
    parts.push(part);
    for part in parts.iter().map(|p| p.trim()).filter(|p| !p.is_empty()) {
        if part.eq_ignore_ascii_case(BUILTIN_WORD) {
            out.extend(builtin());
        } else {
            out.push(Pattern::new(part)?);
        }
    }
    Ok(out)
}

/// The list as `qksmtp check` shows it: `builtin` for the built-in patterns when they are
/// all there in order.
pub fn show(patterns: &[Pattern]) -> String {
    let sources: Vec<String> = patterns.iter().map(Pattern::to_string).collect();
    let mut shown = Vec::new();
    let mut rest = &sources[..];
    while !rest.is_empty() {
        if rest.len() >= BUILTIN.len() && rest[..BUILTIN.len()].iter().eq(BUILTIN.iter()) {
            shown.push(BUILTIN_WORD.to_string());
            rest = &rest[BUILTIN.len()..];
        } else {
            shown.push(rest[0].replace(',', "\\,"));
            rest = &rest[1..];
        }
    }
    shown.join(", ")
}

/// A compiled pattern; `Display` gives back its source text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern {
    source: String,
    alternatives: Vec<Vec<Piece>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Piece {
    atom: Atom,
    min: usize,
    max: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Atom {
    Any,
    /// A lower-case byte.
    Byte(u8),
    /// Inclusive lower-case ranges, possibly negated.
    Class {
        negated: bool,
        ranges: Vec<(u8, u8)>,
    },
    Start,
    End,
}

impl Atom {
    fn matches(&self, b: u8) -> bool {
        let b = b.to_ascii_lowercase();
        match self {
            Atom::Any => true,
            Atom::Byte(c) => *c == b,
            Atom::Class { negated, ranges } => {
                ranges.iter().any(|&(lo, hi)| lo <= b && b <= hi) != *negated
            }
            Atom::Start | Atom::End => false,
        }
    }
}

impl Pattern {
    /// Compiles `source`; `Err` says what is wrong and where.
    pub fn new(source: &str) -> Result<Pattern, String> {
        if source.is_empty() {
            return Err("an empty pattern would match every reply".into());
        }
        let alternatives = source
            .split('|')
            .map(alternative)
            .collect::<Result<Vec<_>, _>>()?;
        if alternatives.iter().any(Vec::is_empty) {
            return Err(format!("{source:?} has an empty alternative around |"));
        }
        Ok(Pattern {
            source: source.to_string(),
            alternatives,
        })
    }

    /// True when the pattern occurs in `text` (ASCII case-insensitive).
    pub fn is_match(&self, text: &str) -> bool {
        self.alternatives.iter().any(|p| search(p, text.as_bytes()))
    }
}

impl fmt::Display for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

/// Runs the pieces as a set of states over `t`, one byte at a time (no backtracking, so a
/// long reply costs pieces × length): state `k` means "the first k pieces have matched".
/// A new start is added at every position (the pattern may begin anywhere).
fn search(pieces: &[Piece], t: &[u8]) -> bool {
    let mut now = vec![false; pieces.len() + 1];
    for i in 0..=t.len() {
        now[0] = true;
        close(pieces, &mut now, i, t.len());
        if now[pieces.len()] {
            return true;
        }
        let Some(&c) = t.get(i) else {
            return false;
        };
        let mut next = vec![false; pieces.len() + 1];
        for (k, piece) in pieces.iter().enumerate() {
            if now[k] && piece.atom.matches(c) {
                next[k + 1] = true;
                next[k] |= piece.max > 1;
            }
        }
        now = next;
    }
    false
}

/// Adds the states reached without reading: past optional pieces, and anchors that hold at
/// position `i` of a text `len` long.
fn close(pieces: &[Piece], states: &mut [bool], i: usize, len: usize) {
    for (k, piece) in pieces.iter().enumerate() {
        let free = match piece.atom {
            Atom::Start => i == 0,
            Atom::End => i == len,
            _ => piece.min == 0,
        };
        if states[k] && free {
            states[k + 1] = true;
        }
    }
}

fn alternative(src: &str) -> Result<Vec<Piece>, String> {
    let b = src.as_bytes();
    let mut pieces: Vec<Piece> = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let (atom, used) = match b[i] {
            b'.' => (Atom::Any, 1),
            b'^' => (Atom::Start, 1),
            b'$' => (Atom::End, 1),
            b'\\' => escape(b.get(i + 1).copied(), src)?,
            b'[' => class(&b[i + 1..], src)?,
            c @ (b'*' | b'+' | b'?') => {
                let Some(last) = pieces.last_mut() else {
                    return Err(format!("{src:?}: {} repeats nothing", c as char));
                };
                if last.max != 1 || matches!(last.atom, Atom::Start | Atom::End) {
                    return Err(format!("{src:?}: {} repeats nothing", c as char));
                }
                (last.min, last.max) = match c {
                    b'*' => (0, usize::MAX),
                    b'+' => (1, usize::MAX),
                    _ => (0, 1),
                };
                i += 1;
                continue;
            }
            c @ (b'(' | b')' | b'{' | b'}') => {
                return Err(format!(
                    "{src:?}: {} is not supported in throttle_on patterns (write \\{} for the character)",
                    c as char, c as char
                ));
            }
            c => (Atom::Byte(c.to_ascii_lowercase()), 1),
        };
        pieces.push(Piece {
            atom,
            min: 1,
            max: 1,
        });
        i += used + usize::from(b[i] == b'[');
    }
    Ok(pieces)
}

/// `\d` and friends, or an escaped character for itself.
fn escape(c: Option<u8>, src: &str) -> Result<(Atom, usize), String> {
    let class = |negated, ranges: &[(u8, u8)]| Atom::Class {
        negated,
        ranges: ranges.to_vec(),
    };
    const DIGIT: &[(u8, u8)] = &[(b'0', b'9')];
    const WORD: &[(u8, u8)] = &[(b'0', b'9'), (b'a', b'z'), (b'_', b'_')];
    const SPACE: &[(u8, u8)] = &[(b' ', b' '), (b'\t', b'\r')];
    let atom = match c {
        Some(b'd') => class(false, DIGIT),
        Some(b'D') => class(true, DIGIT),
        Some(b'w') => class(false, WORD),
        Some(b'W') => class(true, WORD),
        Some(b's') => class(false, SPACE),
        Some(b'S') => class(true, SPACE),
        Some(c) if c.is_ascii_punctuation() || c == b' ' => Atom::Byte(c),
        Some(c) => return Err(format!("{src:?}: \\{} is not supported", c as char)),
        None => return Err(format!("{src:?} ends with a lone \\")),
    };
    Ok((atom, 2))
}

/// `[...]` after its `[`: the atom and how many bytes it used after the `[` (its `]` included).
fn class(b: &[u8], src: &str) -> Result<(Atom, usize), String> {
    let negated = b.first() == Some(&b'^');
    let mut i = usize::from(negated);
    let mut ranges = Vec::new();
    loop {
        let c = match b.get(i) {
            None => return Err(format!("{src:?}: [ without its ]")),
            Some(b']') if i > usize::from(negated) => break,
            Some(b'\\') => {
                i += 1;
                *b.get(i)
                    .ok_or_else(|| format!("{src:?}: [ without its ]"))?
            }
            Some(&c) => c,
        };
        let c = c.to_ascii_lowercase();
        if b.get(i + 1) == Some(&b'-') && b.get(i + 2).is_some_and(|&e| e != b']') {
            let end = b[i + 2].to_ascii_lowercase();
            if end < c {
                return Err(format!(
                    "{src:?}: the range {}-{} is backwards",
                    c as char, end as char
                ));
            }
            ranges.push((c, end));
            i += 3;
        } else {
            ranges.push((c, c));
            i += 1;
        }
    }
    Ok((Atom::Class { negated, ranges }, i + 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_table() {
        // (pattern, text, matches)
        let cases = [
            (
                "4\\.7\\.28",
                "421 4.7.28 Gmail has detected an unusual rate",
                true,
            ),
            ("4\\.7\\.28", "421 4.7.2 8", false),
            (
                "receiving mail at a rate",
                "450 4.2.1 The user is Receiving Mail at a rate",
                true,
            ),
            (
                "\\[TSS?\\d+\\]",
                "421 4.7.0 [TSS04] Messages temporarily deferred",
                true,
            ),
            ("\\[TSS?\\d+\\]", "421 4.7.0 [TS] deferred", false),
            ("4\\.7\\.(500|650)", "", false),
            ("^451", "451 4.7.500 Server busy", true),
            ("^451", "550 451", false),
            ("busy$", "451 4.7.500 Server busy", true),
            ("busy$", "451 busy server", false),
            ("a.c", "xabcx", true),
            ("ab*c", "ac", true),
            ("ab+c", "ac", false),
            ("ab?c", "abbc", false),
            ("[0-9]+ recipients", "too many: 100 recipients", true),
            ("[^a-z]x", "ax", false),
            ("[^a-z]x", "1x", true),
            ("rate limit|server busy", "451 4.7.500 SERVER BUSY", true),
            ("rate limit|server busy", "451 4.7.1 greylisted", false),
            ("\\s\\w+ed$", "450 4.2.0 Greylisted", true),
            ("x.*y.*z", "x 1 y 2 z", true),
            ("x.*y.*z", "x 1 z 2 y", false),
        ];
        for (source, text, want) in cases {
            let Ok(p) = Pattern::new(source) else {
                assert!(source.contains('('), "{source} should compile");
                continue;
            };
            assert_eq!(p.is_match(text), want, "{source:?} on {text:?}");
        }
    }

    #[test]
    fn refused_patterns_say_why() {
        let cases = [
            ("", "empty pattern"),
            ("4\\.7\\.(500|650)", "( is not supported"),
            ("a{2}", "{ is not supported"),
            ("*x", "* repeats nothing"),
            ("a**", "* repeats nothing"),
            ("[abc", "[ without its ]"),
            ("[z-a]", "backwards"),
            ("x\\", "lone \\"),
            ("a||b", "empty alternative"),
            ("\\q", "\\q is not supported"),
        ];
        for (source, why) in cases {
            let e = Pattern::new(source).expect_err(source);
            assert!(e.contains(why), "{source:?}: {e}");
        }
    }

    #[test]
    fn lists_extend_or_clear_the_builtin_one() {
        let n = BUILTIN.len();
        // (value, patterns, shown back)
        let cases = [
            ("builtin", n, "builtin"),
            ("", 0, ""),
            ("BUILTIN, slow down", n + 1, "builtin, slow down"),
            (
                "slow down, try later\\, please",
                2,
                "slow down, try later\\, please",
            ),
        ];
        for (value, len, back) in cases {
            let l = list(value).unwrap();
            assert_eq!((l.len(), show(&l).as_str()), (len, back), "{value:?}");
        }
        assert!(list("ok, (bad)").unwrap_err().contains("not supported"));
        let b = builtin();
        let hit = |reply: &str| b.iter().any(|p| p.is_match(reply));
        assert!(hit(
            "421 4.7.28 [192.0.2.1] Our system has detected an unusual rate"
        ));
        assert!(hit(
            "450 4.2.1 The user you are trying to contact is receiving mail at a rate"
        ));
        assert!(hit(
            "421 4.7.0 [TSS04] Messages from 192.0.2.1 temporarily deferred"
        ));
        assert!(hit("451 4.7.500 Server busy. Please try again later"));
        assert!(hit(
            "451 4.7.650 The mail server has been temporarily rate limited"
        ));
        assert!(!hit("451 4.7.1 greylisted, try again"));
        assert!(!hit("450 4.2.0 Greylisted"));
        assert!(!hit("421 4.7.0 too many connections"));
    }

    #[test]
    fn a_long_reply_against_many_repeats_ends() {
        let p = Pattern::new("a*a*a*a*a*a*a*a*a*a*b").unwrap();
        assert!(!p.is_match(&"a".repeat(5000)));
        assert_eq!(p.to_string(), "a*a*a*a*a*a*a*a*a*a*b");
    }
}
