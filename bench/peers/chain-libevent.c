/* The dispatch chain on libevent 2.1 (its epoll backend). See chain.h. */
#include <event2/event.h>

#include "chain.h"

static struct chain c;

static void read_cb(evutil_socket_t fd, short which, void *arg) {
    (void)fd;
    (void)which;
    chain_on_readable(&c, (int)(intptr_t)arg);
}

int main(int argc, char **argv) {
    chain_open(&c, argc, argv);
    int runs = atoi(argv[4]);
    struct event_config *cfg = event_config_new();
    event_config_avoid_method(cfg, "poll");
    event_config_avoid_method(cfg, "select");
    struct event_base *base = event_base_new_with_config(cfg);
    if (!base || strcmp(event_base_get_method(base), "epoll") != 0) {
        fprintf(stderr, "libevent: no epoll backend\n");
        return 1;
    }
    struct event **evs = calloc(c.pairs, sizeof *evs);
    double *total = malloc(sizeof(double) * runs), *dispatch = malloc(sizeof(double) * runs);
    for (int r = 0; r < runs; r++) {
        double t0 = now_us();
        for (int i = 0; i < c.pairs; i++) {
            if (evs[i]) {
                event_del(evs[i]);
                event_assign(evs[i], base, c.fds[2 * i], EV_READ | EV_PERSIST, read_cb, (void *)(intptr_t)i);
            } else {
                evs[i] = event_new(base, c.fds[2 * i], EV_READ | EV_PERSIST, read_cb, (void *)(intptr_t)i);
            }
            event_add(evs[i], NULL);
        }
        chain_start(&c);
        double t1 = now_us();
        while (c.count < c.fired)
            if (event_base_loop(base, EVLOOP_ONCE) < 0)
                die("event_base_loop");
        double t2 = now_us();
        total[r] = (t2 - t0) / c.count;
        dispatch[r] = (t2 - t1) / c.count;
    }
    chain_report("libevent", &c, total, dispatch, runs);
    return 0;
}
