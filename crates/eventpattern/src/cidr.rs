//! `cidr` operands: an IPv4 or IPv6 network, `address/length`.
//!
//! Invariant (enforced by [`Cidr::parse`]): `len` is at most 32 for IPv4 and 128 for IPv6 and
//! `net` has its host bits cleared, so membership is one mask and compare.

use std::net::IpAddr;

use crate::error::{ErrorKind, PatternError};

/// A compiled `cidr` operand.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Cidr {
    v6: bool,
    net: u128,
    mask: u128,
}

fn bits(ip: IpAddr) -> (bool, u128) {
    match ip {
        IpAddr::V4(a) => (false, u128::from(u32::from(a))),
        IpAddr::V6(a) => (true, u128::from(a)),
    }
}

impl Cidr {
    /// Parses `address/length`; host bits set in the address are ignored (`10.0.0.7/24` is
    /// `10.0.0.0/24`).
    pub(crate) fn parse(text: &str, path: &str) -> Result<Self, PatternError> {
        let bad = || PatternError::new(ErrorKind::BadCidr, path, format!("Malformed CIDR: {text}"));
        let (addr, len) = text.split_once('/').ok_or_else(bad)?;
        let ip: IpAddr = addr.parse().map_err(|_| bad())?;
        if len.is_empty() || !len.bytes().all(|b| b.is_ascii_digit()) || len.len() > 3 {
            return Err(bad());
        }
        let len: u32 = len.parse().map_err(|_| bad())?;
        let (v6, raw) = bits(ip);
        let width = if v6 { 128 } else { 32 };
        if len > width {
            return Err(bad());
        }
        let host_bits = width - len;
        let all: u128 = if v6 { u128::MAX } else { u128::from(u32::MAX) };
        let mask = if host_bits >= 128 {
            0
        } else {
            (all >> host_bits) << host_bits
        };
        Ok(Self {
            v6,
            net: raw & mask,
            mask,
        })
    }

    /// Whether `s` is an IP address of the same family inside the network.
    pub(crate) fn contains(&self, s: &str) -> bool {
        match s.parse::<IpAddr>() {
            Ok(ip) => {
                let (v6, raw) = bits(ip);
                v6 == self.v6 && raw & self.mask == self.net
            }
            Err(_) => false,
        }
    }
}
