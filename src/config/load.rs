//! INI text -> validated `Config`, every error naming its line.
