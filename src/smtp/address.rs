//! Parsers for MAIL FROM / RCPT TO arguments: paths, addresses, parameters, xtext.
