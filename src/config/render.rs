//! The effective settings rendered back as INI text (for `qksmtp check`).
