#!/usr/bin/env python3
"""Differential test of iomux's HTTP framing against h11 (a strict parser).

Generates requests, mutates them (named HTTP-aware mutations plus random
byte damage), runs each through our framing (the fuzz crate's http_verdict
example, fed on a pipe) and through h11 as a server, and compares what each
made of the bytes: how many requests were accepted, with which bodies, and
how the stream ended (idle, partial, closed, rejected). Prints every
disagreement class (mutation + outcome pair) with a count and an example.

    scripts/http-diff.py [--cases N] [--seed S] [--verdict PATH]

Needs `pip install h11`. The verdict binary is built by scripts/fuzz.sh or
`cargo +nightly build --release --manifest-path fuzz/Cargo.toml --example http_verdict`.
"""

import argparse
import collections
import os
import random
import subprocess
import sys

import h11

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REFUSALS = {400, 413, 414, 431, 501}


def get(path=b"/plaintext", version=b"1.1", extra=b""):
    return b"GET " + path + b" HTTP/" + version + b"\r\nHost: a\r\n" + extra + b"\r\n"


def post_cl(body=b"hello", extra=b""):
    return (
        b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: "
        + str(len(body)).encode()
        + b"\r\n"
        + extra
        + b"\r\n"
        + body
    )


def post_chunked(chunks=(b"Wiki", b"pedia"), extra=b"", trailers=b""):
    body = b"".join(b"%x\r\n" % len(c) + c + b"\r\n" for c in chunks)
    return (
        b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
        + extra
        + b"\r\n"
        + body
        + b"0\r\n"
        + trailers
        + b"\r\n"
    )


CHUNKED_HEAD = b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"

# Named mutations: each returns the bytes of one request stream.
MUTATIONS = {
    "valid-get": lambda r: get(),
    "valid-post": lambda r: post_cl(),
    "valid-chunked": lambda r: post_chunked(),
    "valid-pipelined": lambda r: get() + post_cl() + post_chunked() + get(),
    "http10-get": lambda r: b"GET /plaintext HTTP/1.0\r\n\r\n",
    "http10-keepalive": lambda r: b"GET /plaintext HTTP/1.0\r\nConnection: keep-alive\r\n\r\n" + get(),
    "connection-close": lambda r: get(extra=b"Connection: close\r\n") + get(),
    "dup-cl-same": lambda r: post_cl(extra=b"Content-Length: 5\r\n"),
    "dup-cl-diff": lambda r: post_cl(extra=b"Content-Length: 6\r\n"),
    "cl-list-same": lambda r: post_cl().replace(b"Content-Length: 5", b"Content-Length: 5, 5"),
    "cl-plus": lambda r: post_cl().replace(b"Length: 5", b"Length: +5"),
    "cl-leading-zeros": lambda r: post_cl().replace(b"Length: 5", b"Length: 0005"),
    "cl-inner-space": lambda r: post_cl().replace(b"Length: 5", b"Length: 5 5"),
    "cl-hex": lambda r: post_cl().replace(b"Length: 5", b"Length: 0x5"),
    "cl-empty": lambda r: post_cl().replace(b"Length: 5", b"Length: "),
    "cl-huge": lambda r: post_cl().replace(b"Length: 5", b"Length: 99999999999999999999"),
    "cl-and-te": lambda r: post_chunked(extra=b"Content-Length: 5\r\n"),
    "te-gzip-chunked": lambda r: post_chunked().replace(b"Encoding: chunked", b"Encoding: gzip, chunked"),
    "te-chunked-gzip": lambda r: post_chunked().replace(b"Encoding: chunked", b"Encoding: chunked, gzip"),
    "te-identity": lambda r: post_cl(extra=b"Transfer-Encoding: identity\r\n"),
    "te-chunked-twice": lambda r: post_chunked().replace(b"Encoding: chunked", b"Encoding: chunked, chunked"),
    "te-two-fields": lambda r: post_chunked(extra=b"Transfer-Encoding: chunked\r\n"),
    "te-case": lambda r: post_chunked().replace(b"Encoding: chunked", b"Encoding: ChUnKeD"),
    "te-http10": lambda r: post_chunked().replace(b"HTTP/1.1", b"HTTP/1.0"),
    "te-empty": lambda r: post_cl(extra=b"Transfer-Encoding: \r\n"),
    "ws-before-colon": lambda r: get().replace(b"Host: a", b"Host : a"),
    "ws-before-first-header": lambda r: get().replace(b"\r\nHost", b"\r\n Host"),
    "obs-fold": lambda r: get(extra=b"X: a\r\n b\r\n"),
    "bare-lf": lambda r: get().replace(b"\r\n", b"\n"),
    "bare-lf-chunked": lambda r: post_chunked().replace(b"\r\n", b"\n"),
    "bare-cr-in-value": lambda r: get(extra=b"X: a\rb\r\n"),
    "missing-host": lambda r: get().replace(b"Host: a\r\n", b""),
    "dup-host": lambda r: get(extra=b"Host: b\r\n"),
    "empty-host": lambda r: get().replace(b"Host: a", b"Host:"),
    "ctl-in-value": lambda r: get(extra=b"X: a" + bytes([r.choice([0, 1, 8, 0x1F, 0x7F])]) + b"b\r\n"),
    "obs-text-in-value": lambda r: get(extra=b"X: caf\xc3\xa9\xff\r\n"),
    "tab-in-value": lambda r: get(extra=b"X: a\tb\t\r\n"),
    "empty-header-name": lambda r: get(extra=b": a\r\n"),
    "non-token-name": lambda r: get(extra=b"X(y): a\r\n"),
    "no-colon": lambda r: get(extra=b"Xyz\r\n"),
    "lowercase-method": lambda r: get().replace(b"GET", b"get"),
    "odd-method": lambda r: get().replace(b"GET", r.choice([b"G@T", b"G\x01T", b"GE T", b"M-SEARCH"])),
    "target-ctl": lambda r: get(path=b"/plain\x7ftext"),
    "target-obs-text": lambda r: get(path=b"/plaintext?\xe9"),
    "target-absolute": lambda r: get(path=b"http://a/plaintext"),
    "target-asterisk": lambda r: b"OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n",
    "target-no-slash": lambda r: get(path=b"plaintext"),
    "double-space": lambda r: get().replace(b"GET /", b"GET  /"),
    "version-2": lambda r: get(version=b"2.0"),
    "version-1.2": lambda r: get(version=b"1.2"),
    "version-lower": lambda r: get().replace(b"HTTP/1.1", b"http/1.1"),
    "version-missing": lambda r: get().replace(b" HTTP/1.1", b""),
    "leading-crlf": lambda r: b"\r\n\r\n" + get(),
    "leading-lf": lambda r: b"\n" + get(),
    "trailing-ws-request-line": lambda r: get().replace(b"HTTP/1.1\r\n", b"HTTP/1.1 \r\n", 1),
    "chunk-leading-zeros": lambda r: CHUNKED_HEAD + b"0005\r\nhello\r\n0\r\n\r\n",
    "chunk-upper-hex": lambda r: CHUNKED_HEAD + b"A\r\n0123456789\r\n0\r\n\r\n",
    "chunk-size-overflow": lambda r: CHUNKED_HEAD + b"10000000000000000\r\nx\r\n0\r\n\r\n",
    "chunk-ext": lambda r: CHUNKED_HEAD + b"5;a=b;c=\"d\"\r\nhello\r\n0\r\n\r\n",
    "chunk-ext-bws": lambda r: CHUNKED_HEAD + b"5 ;a=b\r\nhello\r\n0\r\n\r\n",
    "chunk-ext-ctl": lambda r: CHUNKED_HEAD + b"5;a=\x01\r\nhello\r\n0\r\n\r\n",
    "chunk-size-trailing-ws": lambda r: CHUNKED_HEAD + b"5 \r\nhello\r\n0\r\n\r\n",
    "chunk-size-negative": lambda r: CHUNKED_HEAD + b"-5\r\nhello\r\n0\r\n\r\n",
    "chunk-size-0x": lambda r: CHUNKED_HEAD + b"0x5\r\nhello\r\n0\r\n\r\n",
    "chunk-data-no-crlf": lambda r: CHUNKED_HEAD + b"5\r\nhelloXX0\r\n\r\n",
    "chunk-data-lf-only": lambda r: CHUNKED_HEAD + b"5\r\nhello\n0\r\n\r\n",
    "chunk-trailers": lambda r: post_chunked(trailers=b"X-T: 1\r\n"),
    "chunk-trailer-no-colon": lambda r: post_chunked(trailers=b"XT\r\n"),
    "chunk-trailer-fold": lambda r: post_chunked(trailers=b"X: 1\r\n 2\r\n"),
    "expect-continue": lambda r: post_cl(extra=b"Expect: 100-continue\r\n"),
    "body-on-get": lambda r: b"GET /plaintext HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc" + get(),
    "smuggle-cl-te": lambda r: (
        b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
        + get()
    ),
    "big-head": lambda r: get(extra=b"X: " + b"a" * r.choice([8000, 16000, 17000, 33000]) + b"\r\n"),
    "long-uri": lambda r: get(path=b"/" + b"u" * r.choice([4000, 8000, 8200, 9000])),
    "many-headers": lambda r: get(extra=b"A: b\r\n" * r.choice([50, 99, 100, 101])),
}


def random_damage(r, data):
    """Flips, inserts or deletes a few bytes."""
    data = bytearray(data)
    for _ in range(r.randint(1, 3)):
        at = r.randrange(len(data))
        byte = r.choice([r.randrange(256), ord(r.choice(" \t\r\n:;,0aZ\x00\x7f\x80"))])
        op = r.randrange(3)
        if op == 0:
            data[at] = byte
        elif op == 1:
            data.insert(at, byte)
        elif len(data) > 1:
            del data[at]
    return bytes(data)


def h11_verdict(data):
    """(accepted requests as (method, target, body), how the stream ended)."""
    conn = h11.Connection(h11.SERVER)
    conn.receive_data(data)
    accepted, body, request = [], b"", None
    try:
        while True:
            ev = conn.next_event()
            if ev is h11.NEED_DATA:
                pending = len(conn.trailing_data[0]) > 0 or conn.their_state is not h11.IDLE
                return accepted, "partial" if pending else "idle"
            if isinstance(ev, h11.Request):
                request, body = ev, b""
            elif isinstance(ev, h11.Data):
                body += ev.data
            elif isinstance(ev, h11.EndOfMessage):
                accepted.append((request.method, request.target, body))
                conn.send(h11.Response(status_code=200, headers=[("Content-Length", "0")]))
                conn.send(h11.EndOfMessage())
                if conn.our_state is h11.MUST_CLOSE:
                    return accepted, "closed"
                conn.start_next_cycle()
            elif ev is h11.PAUSED:
                return accepted, "closed"
            elif isinstance(ev, h11.ConnectionClosed):
                return accepted, "closed"
    except h11.RemoteProtocolError:
        return accepted, "reject"


class Ours:
    """Our framing's verdicts, from the http_verdict example on a pipe."""

    def __init__(self, path):
        self.proc = subprocess.Popen(
            [path], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )

    def verdict(self, data):
        self.proc.stdin.write(data.hex() + "\n")
        self.proc.stdin.flush()
        fields = self.proc.stdout.readline().split()
        closed, consumed, answers = fields[0] == "1", fields[1], fields[2:]
        statuses = [(int(a.split(":")[0]), bytes.fromhex(a.split(":")[1])) for a in answers]
        accepted = [(status, body) for status, body in statuses if status not in REFUSALS]
        refused = any(status in REFUSALS for status, _ in statuses)
        if refused:
            end = "reject"
        elif closed:
            end = "closed"
        elif int(consumed) == len(data):
            end = "idle"
        else:
            end = "partial"
        return accepted, end, [s for s, _ in statuses]


def compare(ours, theirs, data):
    """None when both read the bytes alike, else a short outcome label."""
    our_bodies, our_end, statuses = ours
    their_reqs, their_end = theirs
    if len(our_bodies) != len(their_reqs) or our_end != their_end:
        return f"ours={len(our_bodies)} {our_end} {statuses} h11={len(their_reqs)} {their_end}"
    for (method, target, body), (status, ours_body) in zip(their_reqs, our_bodies):
        echoed = status == 200 and method == b"POST" and target.startswith(b"/echo")
        if echoed and body != ours_body:
            return "same outcome, echoed body differs"
    return None


# The named disagreements, each a documented choice (BENCHMARKS.md, "HTTP
# framing against h11"): mutation -> (our end, h11's end). --strict fails on
# any other named disagreement (damaged inputs reduce to these and are only
# listed).
KNOWN = {
    "bare-lf-chunked": ("reject", "partial"),
    "big-head": ("reject", "idle"),
    "chunk-ext-bws": ("idle", "reject"),
    "chunk-ext-ctl": ("reject", "idle"),
    "chunk-size-overflow": ("reject", "partial"),
    "chunk-size-trailing-ws": ("reject", "idle"),
    "chunk-trailer-fold": ("reject", "idle"),
    "cl-and-te": ("reject", "idle"),
    "cl-huge": ("reject", "partial"),
    "ctl-in-value": ("reject", "idle"),
    "http10-keepalive": ("idle", "closed"),
    "leading-crlf": ("idle", "reject"),
    "leading-lf": ("idle", "reject"),
    "long-uri": ("reject", "idle"),
    "many-headers": ("reject", "idle"),
    "obs-fold": ("reject", "idle"),
    "smuggle-cl-te": ("reject", "idle"),
    "target-no-slash": ("reject", "idle"),
    "te-http10": ("reject", "closed"),
    "version-1.2": ("reject", "idle"),
    "version-2": ("reject", "idle"),
}


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--cases", type=int, default=20000)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--strict", action="store_true", help="fail on an unknown named class")
    p.add_argument(
        "--verdict",
        default=os.path.join(ROOT, "fuzz/target/release/examples/http_verdict"),
    )
    args = p.parse_args()
    r = random.Random(args.seed)
    ours = Ours(args.verdict)
    classes = collections.defaultdict(lambda: [0, []])
    names = sorted(MUTATIONS)
    agree = 0
    for i in range(args.cases):
        name = names[(i // 3) % len(names)]
        data = MUTATIONS[name](r)
        if i % 3 == 2:  # a third of the cases get random damage on top
            data = random_damage(r, data)
            name = f"{name}+damaged"
        outcome = compare(ours.verdict(data), h11_verdict(data), data)
        if outcome is None:
            agree += 1
            continue
        if "+" in name:
            # Damaged: class by outcome only (statuses dropped), examples shown.
            outcome = outcome.split(" [")[0] + " " + outcome.split("] ")[-1]
            name = "random damage"
        entry = classes[(name, outcome)]
        entry[0] += 1
        entry[1].append(data)
    print(f"cases {args.cases}, agree {agree}, disagree {args.cases - agree}, classes {len(classes)}")
    unknown = []
    for name, outcome in classes:
        if name == "random damage":
            continue
        ends = KNOWN.get(name)
        # outcome: "ours=N END [statuses] h11=M END"
        words = outcome.split()
        got = (words[1], words[-1]) if len(words) > 2 else None
        if ends is None or got != ends:
            unknown.append(f"{name}: {outcome}")
    for (name, outcome), (count, examples) in sorted(
        classes.items(), key=lambda kv: (kv[0][0], -kv[1][0])
    ):
        print(f"{count:6}  {name:<28} {outcome}")
        for example in examples[: 3 if name == "random damage" else 1]:
            print(f"        e.g. {example[:150]!r}")
    if unknown:
        print("not a known class:\n  " + "\n  ".join(unknown))
        if args.strict:
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
