//! The lab's matrix: which servers, which cells, how long each runs.

use serde::{Deserialize, Serialize};

/// A server configuration in the lab: one `iomux serve` command line.
#[derive(Clone, Copy, Debug)]
pub struct Variant {
    /// The name in tables and plots.
    pub name: &'static str,
    /// `--model`.
    pub model: &'static str,
    /// `--mode`, for the multiplexing models.
    pub mode: Option<&'static str>,
    /// `--driver`, for the runtime (`--model rt`).
    pub driver: Option<&'static str>,
}

const fn v(name: &'static str, model: &'static str, mode: Option<&'static str>) -> Variant {
    Variant {
        name,
        model,
        mode,
        driver: None,
    }
}

impl Variant {
    /// The `iomux serve` flags that pick this variant's mode or driver.
    pub fn serve_flags(&self) -> Vec<&'static str> {
        let mut flags = Vec::new();
        if let Some(mode) = self.mode {
            flags.extend(["--mode", mode]);
        }
        if let Some(driver) = self.driver {
            flags.extend(["--driver", driver]);
        }
        flags
    }
}

/// Every server the lab runs, in table order.
pub const VARIANTS: &[Variant] = &[
    v("blocking", "blocking", None),
    v("nonblocking", "nonblocking", None),
    v("select", "select", Some("level")),
    v("poll", "poll", Some("level")),
    v("epoll-lt", "epoll", Some("level")),
    v("epoll-et", "epoll", Some("edge")),
    v("sigio", "sigio", None),
    v("uring", "uring", None),
];

/// Servers the lab runs only when `--models` names them: iomux::rt, the
/// async runtime (`serve --model rt`), on its epoll and io_uring drivers,
/// to put beside the models above.
pub const OPT_IN: &[Variant] = &[
    Variant {
        name: "rt",
        model: "rt",
        mode: None,
        driver: Some("epoll"),
    },
    Variant {
        name: "rt-uring",
        model: "rt",
        mode: None,
        driver: Some("uring"),
    },
];

/// Every server the lab knows: the default ones, then the opt-in ones.
pub fn all_variants() -> impl Iterator<Item = &'static Variant> {
    VARIANTS.iter().chain(OPT_IN)
}

/// The two sweeps of the issue.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Sweep {
    /// N connections, K = 10 of them active: the seeds' "a million
    /// connections, a few hundred active", scaled to this machine.
    Idle,
    /// N = K: every connection busy.
    Active,
}

impl Sweep {
    /// The sweep's short name.
    pub fn name(self) -> &'static str {
        match self {
            Sweep::Idle => "idle",
            Sweep::Active => "active",
        }
    }

    /// The sweep in words, for captions.
    pub fn describe(self) -> String {
        match self {
            Sweep::Idle => format!(
                "idle scaling: N connections, K = {IDLE_K} of them busy, the rest open and idle"
            ),
            Sweep::Active => "all active: N = K, every connection busy".into(),
        }
    }
}

/// One cell of the matrix, for one variant.
#[derive(Clone, Copy, Debug)]
pub struct Cell {
    /// Which sweep.
    pub sweep: Sweep,
    /// Connections (N).
    pub conns: usize,
    /// Active connections (K).
    pub active: usize,
}

/// How long and how often each cell runs, and which cells there are.
#[derive(Clone, Debug)]
pub struct Profile {
    /// The profile's name.
    pub name: &'static str,
    /// The cells, for every variant.
    pub cells: Vec<Cell>,
    /// Warm-up per cell, seconds.
    pub warmup: f64,
    /// Measurement window per cell, seconds.
    pub measure: f64,
    /// Repeats per cell (medians are reported).
    pub repeats: usize,
    /// Seconds of the syscall-counting phase after each window.
    pub count: f64,
    /// Contended cells rerun at most this many times in all (keeps the
    /// default run within its 3 minutes on a busy machine).
    pub max_retries: usize,
    /// Seconds of no load, once per variant, to see what the server burns idle.
    pub idle_probe: f64,
}

/// Active connections in the idle sweep.
pub const IDLE_K: usize = 10;

impl Profile {
    /// The profile for the flags; cells above `max_conns` are dropped.
    pub fn new(quick: bool, full: bool, max_conns: Option<usize>) -> Profile {
        let mut p = if quick {
            Profile::sized("quick", &[100, 2000], &[10, 100], 1)
        } else if full {
            Profile::sized("full", &[100, 1000, 10_000, 19_000], &[10, 100, 1000], 3)
        } else {
            Profile::sized("default", &[100, 1000, 10_000], &[10, 100, 1000], 1)
        };
        (p.warmup, p.measure, p.count, p.idle_probe, p.max_retries) = match p.name {
            "quick" => (0.3, 0.6, 0.2, 0.2, 3),
            "full" => (1.0, 2.0, 0.5, 0.5, 30),
            _ => (0.5, 1.0, 0.3, 0.3, 8),
        };
        let max = max_conns.unwrap_or(usize::MAX);
        p.cells.retain(|c| c.conns <= max);
        p
    }

    fn sized(name: &'static str, idle: &[usize], active: &[usize], repeats: usize) -> Profile {
        let cells = idle
            .iter()
            .map(|&n| Cell {
                sweep: Sweep::Idle,
                conns: n,
                active: IDLE_K.min(n),
            })
            .chain(active.iter().map(|&n| Cell {
                sweep: Sweep::Active,
                conns: n,
                active: n,
            }))
            .collect();
        Profile {
            name,
            cells,
            warmup: 0.0,
            measure: 0.0,
            count: 0.0,
            repeats,
            max_retries: 0,
            idle_probe: 0.0,
        }
    }
}
