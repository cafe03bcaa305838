//! Golden-file tests of rendered notices (tests/data/bounce/*.eml) and their parse by a MIME
//! parser nobody here wrote (Python's `email` package).
