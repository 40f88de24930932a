# Helpers shared by the wrk benchmarks (bench-nginx.sh, bench-collect.sh).
# Source it, then call `bench_setup NAME`.

# Sets RT (1: pinned commands run SCHED_FIFO; default on when root and chrt
# exists), HZ, WORK (a scratch directory) and SERVER_PID, and removes
# WORK and stops the server on exit.
bench_setup() {
    if [[ -z ${RT:-} ]]; then
        RT=$([[ $(id -u) == 0 ]] && command -v chrt >/dev/null && echo 1 || echo 0)
    fi
    HZ=$(getconf CLK_TCK)
    WORK=$(mktemp -d "/tmp/$1.XXXXXX")
    SERVER_PID=""
    trap bench_cleanup EXIT
}

bench_cleanup() {
    if [[ -n $SERVER_PID ]]; then
        kill "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    rm -rf "$WORK"
}

# Builds the release binary and prints its path.
build_iomux() {
    local root
    root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
    (cd "$root" && cargo build --release -q -p iomux-cli) >&2
    echo "$root/target/release/iomux"
}

# Runs a command on a CPU and, with RT=1, in a real-time class. It execs,
# so that `pin ... &` leaves the command's own pid in $!; call it only
# in a subshell (with & or inside $(...)).
pin() {
    local cpu=$1
    shift
    if [[ $RT == 1 ]]; then
        exec taskset -c "$cpu" chrt -f 10 "$@"
    else
        exec taskset -c "$cpu" "$@"
    fi
}

# Installs Debian package $2 unless command $1 is there.
need() {
    if ! command -v "$1" >/dev/null 2>&1 && [[ ! -x /usr/sbin/$1 ]]; then
        echo "installing $2" >&2
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >/dev/null
    fi
}

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

wait_port() {
    for _ in $(seq 1 200); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
        sleep 0.05
    done
    echo "server on port $1 did not come up" >&2
    return 1
}

cpu_ticks() {
    # utime and stime are fields 14 and 15; the command name may hold
    # spaces, so count from the closing parenthesis.
    sed 's/^.*) //' "/proc/$1/stat" | awk '{print $12 + $13}'
}

# The user and system time of this shell's finished children, in seconds
# (the second line of `times`, e.g. "0m1.234s 0m2.345s"). `times` must
# not run in a pipe or $(...): that subshell has no children of its own.
children_cpu_s() {
    times >"$WORK/times"
    awk 'NR == 2 { t = 0
        for (i = 1; i <= 2; i++) { split($i, p, /[ms]/); t += p[1] * 60 + p[2] }
        printf "%.3f\n", t }' "$WORK/times"
}

# wrk's 50th percentile latency (needs --latency), e.g. "15.90us".
wrk_p50() { awk '$1 == "50%" {print $2}'; }

# The median of the numbers on stdin, one per line.
median() { sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

# wrk's latency notation (950.00us, 1.02ms, 1.50s) in microseconds.
to_us() {
    awk '{ v = $1; m = 1
           if (v ~ /us$/) sub(/us$/, "", v)
           else if (v ~ /ms$/) { sub(/ms$/, "", v); m = 1e3 }
           else if (v ~ /s$/) { sub(/s$/, "", v); m = 1e6 }
           printf "%.1f\n", v * m }'
}

# Writes DIR/nginx.conf: one process (master_process off, so it is the
# worker), access_log off, `return 200 "Hello, World!"` as text/plain on
# LISTEN (an address:port); the temp paths stay inside DIR.
write_nginx_conf() {
    local dir=$1 listen=$2
    mkdir -p "$dir"
    cat >"$dir/nginx.conf" <<CONF
daemon off;
master_process off;
worker_processes 1;
worker_rlimit_nofile 8192;
error_log $dir/error.log;
pid $dir/nginx.pid;
events { worker_connections 4096; use epoll; }
http {
    access_log off;
    client_body_temp_path $dir;
    proxy_temp_path $dir;
    fastcgi_temp_path $dir;
    uwsgi_temp_path $dir;
    scgi_temp_path $dir;
    server {
        listen $listen;
        location / {
            default_type text/plain;
            return 200 "Hello, World!";
        }
    }
}
CONF
}

# Starts the server command line $1 with `--addr 127.0.0.1:0` on CPU 1 and
# waits (10 s at most) for its `listening on ADDR` line: sets SERVER_PID and
# ADDR. A server that never says it is stopped (a note in server.err says
# why), and the call fails.
start_server_cmd() {
    local cmd=$1 line
    : >"$WORK/server.out"
    # shellcheck disable=SC2086 # the command is words on purpose
    (pin 1 $cmd --addr 127.0.0.1:0 >"$WORK/server.out" 2>"$WORK/server.err") &
    SERVER_PID=$!
    for _ in $(seq 1 200); do
        line=$(head -n 1 "$WORK/server.out")
        if [[ $line == "listening on "* ]]; then
            ADDR=${line#listening on }
            return 0
        fi
        kill -0 "$SERVER_PID" 2>/dev/null || break
        sleep 0.05
    done
    if kill -0 "$SERVER_PID" 2>/dev/null; then
        echo "(no 'listening on' line in 10 s)" >>"$WORK/server.err"
    fi
    stop_server
    return 1
}

# Stops the server start_server_cmd started, if any.
stop_server() {
    [[ -n $SERVER_PID ]] || return 0
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=""
}

# One run of cell $2 on server $3 in round $1: starts it, runs the script's
# `measure CELL` (its line goes to stdout and to $raw), stops it; a server
# that does not start or a client that fails is reported on stderr ($4: the
# client's file that says why) and the run is skipped.
run_on_server() {
    local round=$1 cell=$2 name=$3 client_log=$4 line
    if ! start_server "$name"; then
        echo "# round $round $cell: $name did not start: $(tr '\n' ' ' <"$WORK/server.err" | cut -c1-200)" >&2
        return 0
    fi
    if line=$(measure "$cell"); then
        echo "$round $cell $name $line" | tee -a "$raw"
    else
        echo "# round $round $cell: $name: the client failed: $(head -c 300 "$WORK/$client_log")" >&2
    fi
    stop_server
}
