//! Multishot recvmsg (Linux 6.0): one request receives every datagram of a
//! socket into provided buffers, each laid out by the kernel as a header,
//! the sender's address and the payload. [`MsgHeader`] is the template the
//! request points to and reads those buffers back.
//!
//! Not for: sends (`sendmsg` stays a syscall in the runtime) or control
//! messages beyond the address.

use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

use io_uring::types::RecvMsgOut;

/// Bytes of a provided buffer the kernel spends before the payload: the
/// `io_uring_recvmsg_out` header (four u32) and the sender's address.
pub const RECVMSG_OVERHEAD: usize = 16 + std::mem::size_of::<libc::sockaddr_storage>();

/// The `msghdr` a multishot recvmsg request points to: room for an inet
/// sender's address, no control data. It must outlive every request made
/// with it (boxed, so that moving its owner does not move it).
pub struct MsgHeader(Box<libc::msghdr>);

/// One datagram read back from a provided buffer.
#[derive(Debug)]
pub struct Datagram<'a> {
    /// The payload, as much as the buffer held.
    pub payload: &'a [u8],
    /// The datagram's real size (larger than `payload` when the buffer
    /// was too small: the rest is gone).
    pub size: usize,
    /// The sender, when it has an inet address.
    pub from: Option<SocketAddr>,
}

impl Default for MsgHeader {
    fn default() -> MsgHeader {
        // SAFETY: msghdr is plain data; all-zero is a valid value (null
        // pointers, zero lengths).
        let mut h: libc::msghdr = unsafe { std::mem::zeroed() };
        h.msg_namelen = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
        MsgHeader(Box::new(h))
    }
}

impl MsgHeader {
    /// The pointer a request takes.
    pub fn as_ptr(&self) -> *const libc::msghdr {
        &*self.0
    }

    /// The datagram in `buf`: exactly the part of a provided buffer a
    /// multishot recvmsg completion filled (its result's length).
    pub fn parse<'a>(&self, buf: &'a [u8]) -> io::Result<Datagram<'a>> {
        let out = RecvMsgOut::parse(buf, &self.0)
            .map_err(|()| io::Error::other("a recvmsg buffer too short for its header"))?;
        let from = if out.is_name_data_truncated() {
            None
        } else {
            inet_addr(out.name_data())
        };
        // The payload ends the filled part of the buffer.
        let kept = out.payload_data().len();
        Ok(Datagram {
            payload: &buf[buf.len() - kept..],
            size: out.incoming_payload_len() as usize,
            from,
        })
    }
}

/// An inet socket address from the bytes of a `sockaddr_in` or
/// `sockaddr_in6`.
fn inet_addr(name: &[u8]) -> Option<SocketAddr> {
    let family = u16::from_ne_bytes(name.get(..2)?.try_into().ok()?);
    match i32::from(family) {
        libc::AF_INET if name.len() >= 8 => {
            let port = u16::from_be_bytes([name[2], name[3]]);
            let ip = Ipv4Addr::new(name[4], name[5], name[6], name[7]);
            Some(SocketAddr::V4(SocketAddrV4::new(ip, port)))
        }
        libc::AF_INET6 if name.len() >= 28 => {
            let port = u16::from_be_bytes([name[2], name[3]]);
            let flow = u32::from_be_bytes(name[4..8].try_into().ok()?);
            let ip: [u8; 16] = name[8..24].try_into().ok()?;
            let scope = u32::from_ne_bytes(name[24..28].try_into().ok()?);
            Some(SocketAddr::V6(SocketAddrV6::new(
                Ipv6Addr::from(ip),
                port,
                flow,
                scope,
            )))
        }
        _ => None,
    }
}
