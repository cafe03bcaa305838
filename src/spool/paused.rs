//! The destinations paused from the status page, kept across restarts: `spool/.paused`, one
//! name a line (`example.test`, `relay:NAME`), replaced atomically whenever one is paused or
//! resumed (temp, fsync, rename, directory fsync).

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

const FILE: &str = ".paused";
const TEMP: &str = ".paused.tmp";

fn path(spool_dir: &Path) -> PathBuf {
    spool_dir.join(FILE)
}

/// The paused destinations' names; none when the file does not exist.
pub fn read(spool_dir: &Path) -> io::Result<Vec<String>> {
    match fs::read_to_string(path(spool_dir)) {
        Ok(text) => Ok(names(&text)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(e),
    }
}

/// The names of the file's text: its lines, trimmed, blank ones skipped.
fn names(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect()
}

/// Replaces the file with `names` (removes it when there are none).
pub fn write(spool_dir: &Path, names: &[String]) -> io::Result<()> {
    if names.is_empty() {
        match fs::remove_file(path(spool_dir)) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e),
        }
        return super::sync_dir(spool_dir);
    }
    let tmp = spool_dir.join(TEMP);
    let mut f = File::create(&tmp)?;
    for name in names {
        writeln!(f, "{name}")?;
    }
    f.sync_all()?;
    fs::rename(&tmp, path(spool_dir))?;
    super::sync_dir(spool_dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_written_read_back_and_removed_with_the_last() {
        let dir = std::env::temp_dir().join(format!("qksmtp-paused-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        assert!(read(&dir).unwrap().is_empty(), "no file: nothing paused");
        let both = vec!["a.test".to_string(), "relay:isp".to_string()];
        write(&dir, &both).unwrap();
        assert_eq!(read(&dir).unwrap(), both);
        write(&dir, &both[1..]).unwrap();
        assert_eq!(read(&dir).unwrap(), ["relay:isp"]);
        assert!(!dir.join(TEMP).exists());
        write(&dir, &[]).unwrap();
        assert!(!path(&dir).exists());
        write(&dir, &[]).unwrap();
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn blank_lines_and_spaces_are_skipped() {
        assert_eq!(names(" a.test \n\n\r\nb.test\r\n"), ["a.test", "b.test"]);
    }
}
