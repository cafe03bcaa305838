//! The SMTP command-line parser: one line in, one `Command` (or the reason it is bad) out.
