//! The tree is the data flow: the imports that would turn an arrow of it around are refused
//! (the queue does not reach into delivery or intake, config not into the server, notices
//! not into delivery or the client).

use std::path::{Path, PathBuf};

/// (folder under src/, modules it must not import)
const RULES: &[(&str, &[&str])] = &[
    ("queue", &["deliver", "intake", "server", "client"]),
    ("intake", &["deliver", "queue", "server", "client"]),
    (
        "config",
        &["server", "deliver", "queue", "intake", "client"],
    ),
    ("bounce", &["deliver", "client", "queue", "intake"]),
    (
        "dkim",
        &["server", "intake", "queue", "deliver", "client", "config"],
    ),
    (
        "headers",
        &["server", "intake", "queue", "deliver", "client", "config"],
    ),
    ("smtp", &["server", "client", "deliver", "queue", "intake"]),
    ("transcript", &["client", "deliver", "queue", "status"]),
    ("spool", &["server", "deliver", "queue", "intake", "client"]),
];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn no_module_imports_against_the_data_flow() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut wrong = Vec::new();
    for (folder, forbidden) in RULES {
        let mut files = Vec::new();
        let dir = src.join(folder);
        if dir.is_dir() {
            rust_files(&dir, &mut files);
        }
        let single = src.join(format!("{folder}.rs"));
        if single.is_file() {
            files.push(single);
        }
        assert!(!files.is_empty(), "src/{folder} is gone: update the rules");
        for file in files {
            let text = std::fs::read_to_string(&file).unwrap();
            for (n, line) in text.lines().enumerate() {
                for module in *forbidden {
                    if line.contains(&format!("crate::{module}::"))
                        || line.contains(&format!("crate::{module};"))
                        || line.contains(&format!("crate::{module}::{{"))
                    {
                        wrong.push(format!("{}:{}: {}", file.display(), n + 1, line.trim()));
                    }
                }
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "imports against the data flow:\n{}",
        wrong.join("\n")
    );
}
