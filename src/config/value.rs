//! Parsers for single INI values: durations, sizes, booleans, addresses, CIDRs.
