//! `iomux serve --model select|poll|epoll`: the reactor's `LoopGroup`,
//! one event loop per thread, over the chosen Poller backend.

use iomux::conn::Limits;
use iomux::reactor::{Config, Sharing, Stats};
use iomux::{Backend, Mode};

use super::shutdown::Shutdown;
use super::{Model, ServeArgs, SharingArg, TriggerMode};
use crate::CliResult;
use crate::proto;

/// Serves until SIGINT or SIGTERM.
pub fn run(args: &ServeArgs) -> CliResult {
    let backend = match args.model {
        Model::Select => Backend::Select,
        Model::Poll => Backend::Poll,
        Model::Epoll => Backend::Epoll,
        other => return Err(format!("{other:?} is not a multiplexing model").into()),
    };
    let mode = match args.mode {
        TriggerMode::Level => Mode::Level,
        // Edge where the backend has it; on poll and select the explicit
        // level fallback, announced below.
        TriggerMode::Edge => Mode::EdgeOrLevel,
        TriggerMode::Oneshot => Mode::Oneshot,
    };
    let cfg = Config::default()
        .with_backend(backend)
        .with_mode(mode)
        .with_collect_interval(args.collect_interval)
        .with_limits(Limits::default().with_send_timeout(args.send_timeout));
    if mode.is_edge() && !backend.supports_edge() {
        eprintln!(
            "iomux: {backend} has no native edges: readiness is level, reads still go until EAGAIN"
        );
    }
    let sharing = match args.sharing {
        SharingArg::Reuseport => Sharing::ReusePort,
        SharingArg::Exclusive => Sharing::Exclusive,
        SharingArg::RoundRobin => Sharing::RoundRobin,
    };
    let stats = serve_group(args, cfg, sharing)?;
    let mut cut = 0;
    for (i, s) in stats.iter().enumerate() {
        eprintln!(
            "iomux: loop {i}: {} accepted, {} shed (out of fds), {} timed out, {} stale events dropped, {} turns",
            s.accepted, s.shed, s.timed_out, s.stale_events, s.turns
        );
        cut += s.cut;
    }
    super::shutdown::report_cut(cut, args.shutdown_timeout);
    Ok(())
}

/// Runs a `LoopGroup` of `cfg` loops until SIGINT or SIGTERM starts a
/// graceful drain within `--shutdown-timeout`, and returns each loop's
/// counters: the reactor models on either driver (`uring.rs` too).
pub(super) fn serve_group(
    args: &ServeArgs,
    cfg: Config,
    sharing: Sharing,
) -> Result<Vec<Stats>, Box<dyn std::error::Error + Send + Sync>> {
    // Before any loop thread exists, so that they all inherit the mask.
    let shutdown = Shutdown::install()?;
    let factory = proto::factory(args.proto, args.limits());
    let group = super::workers::loop_group(args, cfg, factory, sharing)?;
    super::announce(group.local_addr())?;
    let handles = group.handles().to_vec();
    let grace = args.shutdown_timeout;
    shutdown.on_signal(move || {
        let deadline = std::time::Instant::now() + grace;
        for h in handles {
            let _ = h.shutdown_gracefully(deadline);
        }
    });
    Ok(group.join_stats()?)
}
