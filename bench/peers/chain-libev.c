/* The dispatch chain on libev 4 (its epoll backend). See chain.h. */
#include <ev.h>

#include "chain.h"

static struct chain c;
static ev_io *watchers;

static void read_cb(struct ev_loop *loop, ev_io *w, int revents) {
    (void)loop;
    (void)revents;
    chain_on_readable(&c, (int)(w - watchers));
}

int main(int argc, char **argv) {
    chain_open(&c, argc, argv);
    int runs = atoi(argv[4]);
    struct ev_loop *loop = ev_loop_new(EVBACKEND_EPOLL);
    if (!loop) {
        fprintf(stderr, "libev: no epoll backend\n");
        return 1;
    }
    watchers = calloc(c.pairs, sizeof *watchers);
    for (int i = 0; i < c.pairs; i++)
        ev_io_init(&watchers[i], read_cb, c.fds[2 * i], EV_READ);
    double *total = malloc(sizeof(double) * runs), *dispatch = malloc(sizeof(double) * runs);
    for (int r = 0; r < runs; r++) {
        double t0 = now_us();
        for (int i = 0; i < c.pairs; i++) {
            ev_io_stop(loop, &watchers[i]);
            ev_io_set(&watchers[i], c.fds[2 * i], EV_READ);
            ev_io_start(loop, &watchers[i]);
        }
        chain_start(&c);
        double t1 = now_us();
        while (c.count < c.fired)
            ev_run(loop, EVRUN_ONCE);
        double t2 = now_us();
        total[r] = (t2 - t0) / c.count;
        dispatch[r] = (t2 - t1) / c.count;
    }
    chain_report("libev", &c, total, dispatch, runs);
    return 0;
}
