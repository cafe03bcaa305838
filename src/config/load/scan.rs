//! INI text -> sections of `key = value` entries, each with its line number. The values come
//! from the `ini` crate (rust-ini); since it keeps no line numbers, a scanner that mirrors its
//! grammar finds where each section and key starts, and the k-th key found is paired with
//! rust-ini's k-th key of the same section occurrence. The scanner also reports lines
//! rust-ini would silently swallow (a line that is not `key = value`, a trailing backslash
//! joining two lines, a quote left open).

use super::ConfigError;
use ini::{Ini, ParseOption};
use std::collections::HashMap;
use std::str::Chars;

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

#[derive(Debug)]
enum Event {
    Section { name: String, line: usize },
    Key(Key),
}

/// A key as rust-ini sees it (`ini_name`: everything up to `=` or `:`, which may include
/// indented comment lines before it, since rust-ini reads those as part of the key) and as
/// meant (`name`, on `line`). Not `usable` when the line makes no sense (reported) or is
/// a comment that happens to contain `=` or `:`.
#[derive(Debug)]
struct Key {
    ini_name: String,
    name: String,
    line: usize,
    usable: bool,
}

/// The sections of `text` in file order. `Err` when the text cannot be read as INI at all;
/// otherwise also the errors for lines that were read but make no sense.
pub(crate) fn read(text: &str) -> Result<(Vec<RawSection>, Vec<ConfigError>), Vec<ConfigError>> {
    let text = &blank_comments(text);
    let (events, errors) = scan(text)?;
    let ini = Ini::load_from_str_opt(text, parse_option()).map_err(|e| {
        vec![ConfigError {
            line: Some(e.line),
            message: format!("cannot read the INI: {}", e.msg),
        }]
    })?;
    let sections = pair(&events, &ini).unwrap_or_else(|| without_lines(&ini));
    Ok((sections, errors))
}

/// `text` with every comment line emptied (its line break kept). rust-ini reads an indented
/// comment line as the start of a key name (up to the next `=` or `:`, possibly lines
/// later, swallowing a section header); without the comment that cannot happen.
fn blank_comments(text: &str) -> String {
    let blank = |line: &str| {
        let ending = if line.ends_with("\r\n") {
            "\r\n"
        } else if line.ends_with('\n') {
            "\n"
        } else {
            ""
        };
        if line.trim_start().starts_with([';', '#']) {
            ending.to_string()
        } else {
            line.to_string()
        }
    };
    text.split_inclusive('\n').map(blank).collect()
}

/// rust-ini's options: quotes on (`"a ;b"` keeps its ` ;`), escapes off (`C:\temp\new` stays
/// as written), one line per value.
fn parse_option() -> ParseOption {
    ParseOption {
        enabled_quote: true,
        enabled_escape: false,
        enabled_indented_mutiline_value: false,
        enabled_preserve_key_leading_whitespace: false,
    }
}

/// The line of the last `key` in section `[section]`, if any.
pub(crate) fn key_line(text: &str, section: &str, key: &str) -> Option<usize> {
    let (events, _) = scan(&blank_comments(text)).ok()?;
    let mut current = None;
    let mut found = None;
    for event in events {
        match event {
            Event::Section { name, .. } => current = Some(name),
            Event::Key(k) => {
                if current.as_deref() == Some(section) && k.usable && k.name == key {
                    found = Some(k.line);
                }
            }
        }
    }
    found
}

/// Pairs the scanned keys with rust-ini's; `None` if they disagree (a scanner bug).
fn pair(events: &[Event], ini: &Ini) -> Option<Vec<RawSection>> {
    let mut occurrences: HashMap<&str, usize> = HashMap::new();
    let general: Vec<(&str, &str)> = ini.general_section().iter().collect();
    let mut sections = vec![(
        RawSection {
            name: None,
            line: None,
            entries: vec![],
        },
        general,
        0,
    )];
    for event in events {
        match event {
            Event::Section { name, line } => {
                let n = occurrences.entry(name).or_insert(0);
                let props: Vec<(&str, &str)> = ini
                    .section_all(Some(name.as_str()))
                    .nth(*n)?
                    .iter()
                    .collect();
                *n += 1;
                let raw = RawSection {
                    name: Some(name.clone()),
                    line: Some(*line),
                    entries: vec![],
                };
                sections.push((raw, props, 0));
            }
            Event::Key(k) => {
                let (raw, props, next) = sections.last_mut()?;
                let (key, value) = *props.get(*next)?;
                if key != k.ini_name {
                    return None;
                }
                *next += 1;
                if k.usable {
                    let entry = RawEntry {
                        key: k.name.clone(),
                        value: value.to_string(),
                        line: Some(k.line),
                    };
                    raw.entries.push(entry);
                }
            }
        }
    }
    if sections.iter().any(|(_, props, next)| props.len() != *next) {
        return None;
    }
    Some(sections.into_iter().map(|(raw, _, _)| raw).collect())
}

/// rust-ini's view alone, for the (unexpected) case the scanner disagrees with it.
fn without_lines(ini: &Ini) -> Vec<RawSection> {
    let entries = |props: &ini::Properties| {
        let to_entry = |(k, v): (&str, &str)| RawEntry {
            key: k.to_string(),
            value: v.to_string(),
            line: None,
        };
        props.iter().map(to_entry).collect()
    };
    ini.iter()
        .map(|(name, props)| RawSection {
            name: name.map(str::to_string),
            line: None,
            entries: entries(props),
        })
        .collect()
}

/// A character reader counting lines the way rust-ini does.
struct Scanner<'a> {
    rdr: Chars<'a>,
    ch: Option<char>,
    /// Newlines read so far (the current character is on line `line + 1`).
    line: usize,
    errors: Vec<ConfigError>,
}

/// What `until` read: the text, whether a `\` + newline joined lines, whether it hit EOF.
struct Read {
    text: String,
    joined: bool,
    /// False when the text ended before an end character.
    complete: bool,
}

fn scan(text: &str) -> Result<(Vec<Event>, Vec<ConfigError>), Vec<ConfigError>> {
    let mut s = Scanner {
        rdr: text.chars(),
        ch: None,
        line: 0,
        errors: vec![],
    };
    s.bump();
    let mut events = Vec::new();
    let mut key: Option<Key> = None;
    while let Some(c) = s.ch {
        match c {
            ';' | '#' => s.comment(),
            '[' => events.push(s.section()?),
            '=' | ':' => {
                let Some(mut k) = key.take().filter(|k| !k.ini_name.is_empty()) else {
                    return Err(s.fatal(s.line + 1, format!("\"{c}\" with no key name before it")));
                };
                let value_ok = s.value(k.line)?;
                k.usable &= value_ok;
                events.push(Event::Key(k));
            }
            ' ' | '\t' => {
                while matches!(s.ch, Some(' ' | '\t')) {
                    s.bump();
                }
                match s.ch {
                    Some('[') => events.push(s.section()?),
                    Some('\n' | '\r') => {
                        s.bump();
                        continue;
                    }
                    None => {}
                    _ => key = s.key()?,
                }
            }
            '\n' | '\r' => s.bump(),
            _ => key = s.key()?,
        }
        s.skip_whitespace();
    }
    if let Some(k) = key {
        return Err(s.fatal(k.line, not_a_line(&k.ini_name)));
    }
    Ok((events, s.errors))
}

fn not_a_line(text: &str) -> String {
    let first = text.lines().next().unwrap_or("").trim();
    format!("\"{first}\" is not a [section] header, a comment or a key = value line")
}

impl Scanner<'_> {
    fn bump(&mut self) {
        self.ch = self.rdr.next();
        if self.ch == Some('\n') {
            self.line += 1;
        }
    }

    fn fatal(&self, line: usize, message: String) -> Vec<ConfigError> {
        let mut errors = self.errors.clone();
        errors.push(ConfigError {
            line: Some(line),
            message,
        });
        errors
    }

    fn error(&mut self, line: usize, message: String) {
        self.errors.push(ConfigError {
            line: Some(line),
            message,
        });
    }

    fn comment(&mut self) {
        while let Some(c) = self.ch {
            self.bump();
            if c == '\n' {
                break;
            }
        }
    }

    /// rust-ini's `parse_whitespace_preserve_line_leading`.
    fn skip_whitespace(&mut self) {
        while let Some(c) = self.ch {
            match c {
                ' ' | '\t' => self.bump(),
                '\n' | '\r' => {
                    self.bump();
                    if matches!(self.ch, Some(' ' | '\t')) {
                        break;
                    }
                }
                c if c.is_whitespace() => self.bump(),
                _ => break,
            }
        }
    }

    /// rust-ini's `parse_str_until` with escapes off: `None` on EOF before an end character.
    fn until(&mut self, ends: &[Option<char>], inline_comment: bool) -> Read {
        let mut read = Read {
            text: String::new(),
            joined: false,
            complete: true,
        };
        while !ends.contains(&self.ch) {
            let Some(ch) = self.ch else {
                read.complete = false;
                break;
            };
            if inline_comment && (ch == ' ' || ch == '\t') {
                self.bump();
                match self.ch {
                    Some('#' | ';') => {
                        self.comment();
                        if read.joined {
                            read.text.push(ch);
                            continue;
                        }
                        break;
                    }
                    Some(_) => {
                        read.text.push(ch);
                        continue;
                    }
                    None => read.text.push(ch),
                }
            } else if inline_comment && read.joined && (ch == '#' || ch == ';') {
                self.comment();
                continue;
            } else if ch == '\\' {
                self.bump();
                match self.ch {
                    None => {
                        read.text.push('\\');
                        continue;
                    }
                    Some('\n') => read.joined = true,
                    Some(next) => {
                        read.text.push('\\');
                        read.text.push(next);
                    }
                }
            } else {
                read.text.push(ch);
            }
            self.bump();
        }
        read
    }

    fn section(&mut self) -> Result<Event, Vec<ConfigError>> {
        let line = self.line + 1;
        self.bump();
        let read = self.until(&[Some(']')], false);
        if !read.complete {
            return Err(self.fatal(line, "section header with no closing ]".to_string()));
        }
        if self.ch == Some(']') {
            self.bump();
        }
        if matches!(self.ch, Some('#' | ';')) {
            self.comment();
        }
        if read.joined || read.text.contains('\n') {
            self.error(
                line,
                "section header with no closing ] on its line".to_string(),
            );
        }
        Ok(Event::Section {
            name: read.text.trim().to_string(),
            line,
        })
    }

    /// A key up to `=` or `:`, skipping comment and blank lines before it; `None` at the end
    /// of the text after only comments (rust-ini ignores that).
    fn key(&mut self) -> Result<Option<Key>, Vec<ConfigError>> {
        let start = self.line + 1;
        let read = self.until(&[Some('='), Some(':')], false);
        let text = read.text;
        let is_comment = |l: &str| l.trim().is_empty() || l.trim_start().starts_with([';', '#']);
        let lines: Vec<&str> = text.split('\n').collect();
        let skip = lines.iter().take_while(|l| is_comment(l)).count();
        if !read.complete {
            if skip == lines.len() {
                return Ok(None);
            }
            return Err(self.fatal(start + skip, not_a_line(lines[skip])));
        }
        let ini_name = text.trim().to_string();
        if skip == lines.len() {
            // A comment line holding `=` or `:`; the rest of it is read as a value.
            return Ok(Some(Key {
                ini_name,
                name: String::new(),
                line: start,
                usable: false,
            }));
        }
        let line = start + skip;
        let usable = skip + 1 == lines.len() && !read.joined;
        if !usable {
            self.error(line, not_a_line(lines[skip]));
        }
        Ok(Some(Key {
            ini_name,
            name: lines[skip].trim().to_string(),
            line,
            usable,
        }))
    }

    /// Skips a value (rust-ini's `parse_val` without multi-line values); false when it spans
    /// lines, which is reported.
    fn value(&mut self, line: usize) -> Result<bool, Vec<ConfigError>> {
        self.bump();
        while matches!(self.ch, Some(c) if c != '\n' && c != '\r' && c.is_whitespace()) {
            self.bump();
        }
        let mut multi_line = false;
        loop {
            match self.ch {
                None => break,
                Some(quote @ ('"' | '\'')) => {
                    self.bump();
                    let read = self.until(&[Some(quote)], false);
                    if !read.complete {
                        let message = format!(
                            "the {quote} that starts the value is never closed (note: a \\ just \
                             before the closing {quote} hides it)"
                        );
                        return Err(self.fatal(line, message));
                    }
                    multi_line |= read.joined || read.text.contains('\n');
                    self.bump();
                }
                Some(_) => {
                    let read = self.until(&[Some('\n'), Some('\r'), None], true);
                    multi_line |= read.joined;
                    break;
                }
            }
        }
        if multi_line {
            let message = "the value goes on to the next line (a \\ at the end of a line joins \
                           it with the next, and a quote must close on its own line)";
            self.error(line, message.to_string());
        }
        Ok(!multi_line)
    }
}

#[cfg(test)]
mod tests;
