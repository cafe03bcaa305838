//! INI text -> sections of `key = value` entries, each with its line number: our own reader,
//! line by line, of the grammar qksmtp.ini has always been read with (rust-ini's, with
//! quotes on, escapes off and inline comments): `;`/`#` comment lines, `[name]` headers,
//! `key = value` (or `key: value`), a ` ;` or ` #` after a value starts a comment, quotes
//! keep what is inside them, a `\` stays as written (`C:\temp\new`) except at the very end
//! of a line, where it joins the next line (reported). Lines that make no sense are errors.

use super::ConfigError;

/// One `key = value` line.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RawEntry {
    pub key: String,
    pub value: String,
    pub line: Option<usize>,
}

/// One `[name]` section as written (`None`: keys before any section header).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RawSection {
    pub name: Option<String>,
    pub line: Option<usize>,
    pub entries: Vec<RawEntry>,
}

/// A line of the text: its number, its text without the line break, and whether that
/// break was a bare LF (only then does a final `\` join the next line).
struct Line<'a> {
    number: usize,
    text: &'a str,
    lf_only: bool,
}

/// The sections of `text` in file order (the first holds the keys before any header).
/// `Err` when the text cannot be read on (a header or a quote never closed, a `=` with no
/// key); otherwise also the errors for lines that were read but make no sense.
pub(crate) fn read(text: &str) -> Result<(Vec<RawSection>, Vec<ConfigError>), Vec<ConfigError>> {
    let lines: Vec<Line> = text
        .split_inclusive('\n')
        .enumerate()
        .map(|(i, raw)| {
            let text = raw.strip_suffix('\n').unwrap_or(raw);
            let lf_only = raw.ends_with('\n') && !text.ends_with('\r');
            let text = text.strip_suffix('\r').unwrap_or(text);
            Line {
                number: i + 1,
                text,
                lf_only,
            }
        })
        .collect();
    let mut reader = Reader {
        sections: vec![RawSection {
            name: None,
            line: None,
            entries: Vec::new(),
        }],
        errors: Vec::new(),
    };
    let mut i = 0;
    while i < lines.len() {
        i = reader.line(&lines, i, lines[i].text)?;
    }
    Ok((reader.sections, reader.errors))
}

/// The line of the last `key` in section `[section]`, if any.
pub(crate) fn key_line(text: &str, section: &str, key: &str) -> Option<usize> {
    let (sections, _) = read(text).ok()?;
    let mut entries = sections
        .iter()
        .filter(|s| s.name.as_deref() == Some(section))
        .flat_map(|s| &s.entries);
    entries.rfind(|e| e.key == key)?.line
}

struct Reader {
    sections: Vec<RawSection>,
    errors: Vec<ConfigError>,
}

/// What a value read: the value, and the index of the next line to read.
struct Value {
    text: String,
    next: usize,
    /// False when the value went on to a following line (reported; the entry is dropped).
    usable: bool,
}

impl Reader {
    fn fatal(&mut self, line: usize, message: String) -> Vec<ConfigError> {
        let mut errors = std::mem::take(&mut self.errors);
        errors.push(ConfigError::new(Some(line), message));
        errors
    }

    /// Reads `rest` (line `i`, or what follows a header on it); returns the next line's index.
    fn line(&mut self, lines: &[Line], i: usize, rest: &str) -> Result<usize, Vec<ConfigError>> {
        let number = lines[i].number;
        let rest = rest.trim_start_matches([' ', '\t']);
        if rest.trim().is_empty() || rest.starts_with([';', '#']) {
            return Ok(i + 1);
        }
        if let Some(header) = rest.strip_prefix('[') {
            let Some((name, after)) = header.split_once(']') else {
                let message = "section header with no closing ] on its line".to_string();
                return Err(self.fatal(number, message));
            };
            self.sections.push(RawSection {
                name: Some(name.trim().to_string()),
                line: Some(number),
                entries: Vec::new(),
            });
            return self.line(lines, i, after);
        }
        let Some(split) = separator(rest) else {
            self.errors
                .push(ConfigError::new(Some(number), not_a_line(rest)));
            return Ok(i + 1);
        };
        let key = rest[..split].trim();
        if key.is_empty() {
            let sign = &rest[split..=split];
            return Err(self.fatal(number, format!("\"{sign}\" with no key name before it")));
        }
        let value = self.value(lines, i, &rest[split + 1..])?;
        if value.usable {
            let entry = RawEntry {
                key: key.to_string(),
                value: value.text,
                line: Some(number),
            };
            self.sections
                .last_mut()
                .expect("never empty")
                .entries
                .push(entry);
        } else {
            let message = "the value goes on to the next line (a \\ at the end of a line joins \
                           it with the next, and a quote must close on its own line)";
            self.errors.push(ConfigError::new(Some(number), message));
        }
        Ok(value.next)
    }

    /// The value after `=` on line `i`: quoted parts kept as they are, unquoted ones up to an
    /// inline comment, the first trimmed, later ones trimmed at the end.
    fn value(&mut self, lines: &[Line], i: usize, after: &str) -> Result<Value, Vec<ConfigError>> {
        let mut value = Value {
            text: String::new(),
            next: i + 1,
            usable: true,
        };
        let (mut at, mut rest) = (i, after.trim_start_matches([' ', '\t']));
        let mut first = true;
        while let Some(quote) = rest.chars().next().filter(|c| *c == '"' || *c == '\'') {
            let Some((inside, end_line, tail)) = quoted(lines, at, &rest[1..], quote) else {
                let message = format!(
                    "the {quote} that starts the value is never closed (note: a \\ just \
                     before the closing {quote} hides it)"
                );
                return Err(self.fatal(lines[i].number, message));
            };
            value.usable &= end_line == at && !inside.contains('\n');
            value.text.push_str(&inside);
            (at, rest, first) = (end_line, tail, false);
        }
        let (part, joined) = unquoted(rest, lines[at].lf_only);
        value
            .text
            .push_str(if first { part.trim() } else { part.trim_end() });
        value.next = at + 1;
        if joined {
            // The joined lines are read as part of the value; it is dropped and reported.
            value.usable = false;
            while value.next < lines.len() {
                let line = &lines[value.next];
                value.next += 1;
                if !(line.lf_only && line.text.ends_with('\\')) {
                    break;
                }
            }
        }
        Ok(value)
    }
}

/// The text up to the closing `quote` (a `\` hides the character after it), from `rest` on
/// line `at` onwards: `(inside, line index of the closing quote, what follows it)`, or
/// `None` when it never closes.
fn quoted<'a>(
    lines: &'a [Line],
    at: usize,
    rest: &'a str,
    quote: char,
) -> Option<(String, usize, &'a str)> {
    let mut inside = String::new();
    let (mut at, mut rest) = (at, rest);
    loop {
        let mut chars = rest.char_indices();
        while let Some((pos, c)) = chars.next() {
            if c == quote {
                return Some((inside, at, &rest[pos + 1..]));
            }
            inside.push(c);
            if c == '\\' {
                match chars.next() {
                    Some((_, next)) => inside.push(next),
                    None => break,
                }
            }
        }
        at += 1;
        rest = lines.get(at)?.text;
        inside.push('\n');
    }
}

/// An unquoted value part: up to a `;` or `#` that follows a space or tab. A `\` keeps the
/// character after it; a final `\` joins the next line when `may_join` (returned as true).
fn unquoted(rest: &str, may_join: bool) -> (&str, bool) {
    let mut chars = rest.char_indices().peekable();
    while let Some((pos, c)) = chars.next() {
        match (c, chars.peek()) {
            ('\\', None) => return (&rest[..pos + 1], may_join),
            ('\\', Some(_)) => {
                chars.next();
            }
            (' ' | '\t', Some((_, ';' | '#'))) => return (&rest[..pos], false),
            _ => {}
        }
    }
    (rest, false)
}

/// Where the key ends: the first `=` or `:` (a `\` hides the character after it).
fn separator(rest: &str) -> Option<usize> {
    let mut chars = rest.char_indices();
    while let Some((pos, c)) = chars.next() {
        match c {
            '=' | ':' => return Some(pos),
            '\\' => {
                chars.next();
            }
            _ => {}
        }
    }
    None
}

fn not_a_line(text: &str) -> String {
    format!(
        "\"{}\" is not a [section] header, a comment or a key = value line",
        text.trim()
    )
}

#[cfg(test)]
mod tests;
