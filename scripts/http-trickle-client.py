#!/usr/bin/env python3
"""Trickles HTTP requests into an iomux server and prints its CPU per byte.

Used by bench-http-trickle.sh. Two shapes, four sizes each:
  body: POST /echo with a chunked body of 1-byte chunks ("1\\r\\nX\\r\\n"),
        sent in pieces of --body-piece bytes;
  head: GET /plaintext with a head of the given size, sent a byte at a time.
The client is closed-loop: after each piece it waits until the server has
read everything (FIONREAD on the server's socket, taken with
pidfd_getfd, says 0), so every piece is one read for the server however slow the server
is. A parser that re-reads the request from its start on every read then
costs O(size^2); one that resumes costs O(size): its CPU per byte stays flat.

Server CPU comes from /proc/PID/stat (utime + stime, clock ticks) and, for
resolution, the sum of /proc/PID/task/*/schedstat (nanoseconds on CPU).
"""

import argparse
import ctypes
import fcntl
import glob
import os
import socket
import struct
import sys
import termios
import time

HZ = os.sysconf("SC_CLK_TCK")
LIBC = ctypes.CDLL(None, use_errno=True)
SYS_PIDFD_GETFD = 438


def stat_ns(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * 1_000_000_000 // HZ


def sched_ns(pid):
    total = 0
    for path in glob.glob(f"/proc/{pid}/task/*/schedstat"):
        try:
            with open(path) as f:
                total += int(f.read().split()[0])
        except FileNotFoundError:
            pass  # a thread that ended meanwhile
    return total


class RecvQueue:
    """The unread bytes of the server's end of one loopback connection:
    its socket, copied out of the server with pidfd_getfd(2), asked with
    FIONREAD. (Polling /proc/net/tcp instead costs milliseconds on a host
    with tens of thousands of sockets.)"""

    def __init__(self, pid, client_addr, deadline):
        pidfd = os.pidfd_open(pid)
        try:
            self.fd = None
            while self.fd is None:
                self.fd = self._find(pid, pidfd, client_addr)
                if time.monotonic() > deadline:
                    raise TimeoutError("the server did not accept")
        finally:
            os.close(pidfd)

    @staticmethod
    def _find(pid, pidfd, client_addr):
        """The server's socket whose peer is `client_addr`, copied, or None."""
        for name in os.listdir(f"/proc/{pid}/fd"):
            try:
                if not os.readlink(f"/proc/{pid}/fd/{name}").startswith("socket:"):
                    continue
            except FileNotFoundError:
                continue
            fd = LIBC.syscall(SYS_PIDFD_GETFD, pidfd, int(name), 0)
            if fd < 0:
                raise OSError(ctypes.get_errno(), "pidfd_getfd (needs ptrace rights: run as root)")
            sock = socket.socket(fileno=fd)
            try:
                if sock.getpeername() == client_addr:
                    return sock.detach()
            except OSError:
                pass  # a listener or an unconnected socket
            sock.close()
        return None

    def bytes(self):
        return struct.unpack("i", fcntl.ioctl(self.fd, termios.FIONREAD, b"\0" * 4))[0]

    def wait_empty(self, deadline):
        while self.bytes() != 0:
            if time.monotonic() > deadline:
                raise TimeoutError("the server stopped reading")

    def close(self):
        os.close(self.fd)


def body_request(size):
    head = b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
    chunks = b"".join(b"1\r\n" + bytes([97 + i % 26]) + b"\r\n" for i in range(size))
    return head + chunks + b"0\r\n\r\n", size


def head_request(size):
    start = b"GET /plaintext HTTP/1.1\r\nHost: x\r\n"
    pad = size - len(start) - 2
    # Fields of 1 KiB, longer for big heads so that they stay under the
    # server's 100 fields.
    field = max(1024, -(-size // 90))
    lines = []
    while pad > 0:
        n = min(pad, field)
        # "X-Pad: " + value + CRLF, at least one value byte.
        value = max(n - 9, 1)
        lines.append(b"X-Pad: " + b"p" * value + b"\r\n")
        pad -= len(lines[-1])
    req = start + b"".join(lines) + b"\r\n"
    return req, 13


def read_response(sock, want_body):
    data = b""
    while b"\r\n\r\n" not in data:
        more = sock.recv(65536)
        if not more:
            raise RuntimeError(f"closed before the response: {data[:200]!r}")
        data += more
    head, rest = data.split(b"\r\n\r\n", 1)
    status = head.split(b"\r\n", 1)[0].decode()
    length = next(
        int(line.split(b":", 1)[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    while len(rest) < length:
        more = sock.recv(65536)
        if not more:
            raise RuntimeError("closed in the response body")
        rest += more
    if not status.startswith("HTTP/1.1 200") or length != want_body:
        raise RuntimeError(f"unexpected response: {status}, {length} bytes")


def run_one(port, pid, request, piece, want_body, timeout):
    sock = socket.create_connection(("127.0.0.1", port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    deadline = time.monotonic() + timeout
    queue = RecvQueue(pid, sock.getsockname(), deadline)
    t0, s0 = stat_ns(pid), sched_ns(pid)
    reads = 0
    for off in range(0, len(request), piece):
        sock.sendall(request[off : off + piece])
        queue.wait_empty(deadline)
        reads += 1
    read_response(sock, want_body)
    t1, s1 = stat_ns(pid), sched_ns(pid)
    queue.close()
    sock.close()
    return reads, t1 - t0, s1 - s0


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--pid", type=int, required=True)
    p.add_argument("--label", default="")
    p.add_argument("--body-kib", default="128,256,512,1024")
    p.add_argument("--head-kib", default="8,16,32,64")
    p.add_argument("--body-piece", type=int, default=4096)
    p.add_argument("--timeout", type=float, default=300)
    args = p.parse_args()
    print(
        f"{'label':<8} {'shape':<5} {'size':>8} {'wire B':>9} {'reads':>7} "
        f"{'cpu ms (stat)':>13} {'cpu ms (sched)':>14} {'ns/B (sched)':>12}"
    )
    shapes = [
        ("body", body_request, args.body_kib, args.body_piece),
        ("head", head_request, args.head_kib, 1),
    ]
    for shape, make, sizes, piece in shapes:
        for kib in [int(k) for k in sizes.split(",") if k]:
            request, want = make(kib * 1024)
            reads, stat, sched = run_one(
                args.port, args.pid, request, piece, want, args.timeout
            )
            print(
                f"{args.label:<8} {shape:<5} {str(kib) + ' KiB':>8} {len(request):>9} "
                f"{reads:>7} {stat / 1e6:>13.0f} {sched / 1e6:>14.1f} "
                f"{sched / len(request):>12.1f}",
                flush=True,
            )


if __name__ == "__main__":
    sys.exit(main())
