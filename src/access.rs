//! Access control: CIDR ranges and the ordered allow/deny rules (first match wins).

use std::net::IpAddr;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    pub addr: IpAddr,
    pub prefix: u8,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Allow,
    Deny,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AccessRule {
    pub action: Action,
    pub cidr: Cidr,
}

pub fn loopback() -> Vec<Cidr> {
    todo!()
}
