//! The `qksmtp` program (also run as `sendmail`, `mailq` or `newaliases`): everything is in
//! the library, from `cli::main`.

fn main() -> std::process::ExitCode {
    qksmtp::cli::main()
}
