//! `PeerAddr`: who is at the other end of a connection, TCP or Unix.
//!
//! Not for: name resolution; it is what accept(2) and getpeername(2)
//! return, converted.

use std::ffi::OsStr;
use std::net::SocketAddr;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

use rustix::net::{AddressFamily, SocketAddrAny, SocketAddrUnix};

/// The address of a connection's peer.
///
/// Non-exhaustive: an address family may be added (vsock, say); a
/// `match` needs a wildcard arm.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum PeerAddr {
    /// A TCP peer (IPv4 or IPv6).
    Inet(SocketAddr),
    /// A Unix-domain peer: its path if it bound one (clients usually do
    /// not), `None` for an unnamed or abstract socket.
    Unix(Option<PathBuf>),
}

impl PeerAddr {
    /// The TCP address, if the peer is a TCP one.
    pub fn inet(&self) -> Option<SocketAddr> {
        match self {
            PeerAddr::Inet(a) => Some(*a),
            PeerAddr::Unix(_) => None,
        }
    }

    /// Converts what accept(2) or getpeername(2) returned.
    pub(crate) fn from_any(addr: SocketAddrAny) -> Option<PeerAddr> {
        match addr.address_family() {
            AddressFamily::INET | AddressFamily::INET6 => {
                SocketAddr::try_from(addr).ok().map(PeerAddr::Inet)
            }
            AddressFamily::UNIX => {
                let unix = SocketAddrUnix::try_from(addr).ok()?;
                let path = unix
                    .path_bytes()
                    .filter(|p| !p.is_empty())
                    .map(|p| PathBuf::from(OsStr::from_bytes(p)));
                Some(PeerAddr::Unix(path))
            }
            _ => None,
        }
    }
}

impl std::fmt::Display for PeerAddr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PeerAddr::Inet(a) => write!(f, "{a}"),
            PeerAddr::Unix(Some(p)) => write!(f, "unix:{}", p.display()),
            PeerAddr::Unix(None) => write!(f, "unix:(unnamed)"),
        }
    }
}
