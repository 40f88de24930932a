/* Shared by the C peers of `iomux pipes`: the chain's sockets, timing and
 * the median, so each peer file holds only its library's event calls.
 * Method (the same as iomux-cli/src/pipes/chain.rs): N socket pairs, the
 * read ends watched for readability (level-triggered, persistent), A pairs
 * poked at the start, and a chain of W writes in which the callback for a
 * pair reads what it holds and writes one byte to the next pair per byte
 * read. Each run first re-adds every watch (as libevent's bench.c does);
 * the dispatch waits with no timeout (bench.c polls with EVLOOP_NONBLOCK;
 * iomux's chain blocks, so every peer here blocks too). */
#ifndef CHAIN_H
#define CHAIN_H

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

struct chain {
    int pairs, active, writes;
    int *fds;           /* 2 per pair: [read end, write end] */
    long count, fired, left;
};

static double now_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static void die(const char *what) {
    fprintf(stderr, "%s: %s\n", what, strerror(errno));
    exit(1);
}

static void chain_open(struct chain *c, int argc, char **argv) {
    if (argc != 5) {
        fprintf(stderr, "usage: %s PAIRS ACTIVE WRITES RUNS\n", argv[0]);
        exit(2);
    }
    c->pairs = atoi(argv[1]);
    c->active = atoi(argv[2]);
    c->writes = atoi(argv[3]);
    if (c->pairs < 1 || c->active < 1 || c->writes < 1 || atoi(argv[4]) < 1) {
        fprintf(stderr, "PAIRS, ACTIVE, WRITES and RUNS must be at least 1\n");
        exit(2);
    }
    if (c->active > c->pairs)
        c->active = c->pairs;
    c->fds = malloc(sizeof(int) * 2 * c->pairs);
    if (!c->fds)
        die("malloc");
    for (int i = 0; i < c->pairs; i++)
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, &c->fds[2 * i]) < 0)
            die("socketpair");
}

static void chain_poke(struct chain *c, int pair) {
    if (send(c->fds[2 * pair + 1], "e", 1, 0) != 1)
        die("send");
}

/* The first pokes, spread over the pairs as bench.c spreads them. */
static void chain_start(struct chain *c) {
    int space = c->pairs / c->active;
    if (space < 1)
        space = 1;
    c->count = 0;
    c->fired = 0;
    c->left = c->writes;
    for (int i = 0; i < c->active; i++) {
        chain_poke(c, (i * space) % c->pairs);
        c->fired++;
    }
}

/* The callback's work for pair `idx`: read, then pass each byte on. */
static void chain_on_readable(struct chain *c, int idx) {
    unsigned char buf[64];
    ssize_t n = recv(c->fds[2 * idx], buf, sizeof buf, 0);
    if (n < 0) {
        if (errno == EAGAIN)
            return;
        die("recv");
    }
    c->count += n;
    for (ssize_t i = 0; i < n && c->left > 0; i++) {
        chain_poke(c, (idx + 1) % c->pairs);
        c->left--;
        c->fired++;
    }
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n) {
    qsort(v, n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* One line, the columns of `iomux pipes`: name, pairs, active, µs/event
 * (re-adding + dispatch), dispatch µs/event, runs. */
static void chain_report(const char *name, const struct chain *c, double *total, double *dispatch, int runs) {
    printf("%-8s %7d %7d %14.3f %17.3f %5d\n", name, c->pairs, c->active, median(total, runs),
           median(dispatch, runs), runs);
}

#endif
