//! The command's logger: the library's `log` records, on stderr, in the
//! same `iomux: …` form as the command's own messages.
//!
//! Warnings and errors by default; `IOMUX_LOG=info|debug|trace` shows more.

use std::io::Write;

use log::{Level, LevelFilter, Log, Metadata, Record};

struct Stderr;

impl Log for Stderr {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        metadata.level() <= log::max_level()
    }

    fn log(&self, record: &Record<'_>) {
        if !self.enabled(record.metadata()) {
            return;
        }
        // One write per line, so that lines from several threads do not mix.
        let line = match record.level() {
            Level::Error | Level::Warn | Level::Info => format!("iomux: {}\n", record.args()),
            level => format!("iomux: [{level}] {}\n", record.args()),
        };
        let _ = std::io::stderr().lock().write_all(line.as_bytes());
    }

    fn flush(&self) {}
}

static LOGGER: Stderr = Stderr;

/// Installs the logger (once; later calls do nothing).
pub fn install() {
    let level = match std::env::var("IOMUX_LOG").as_deref() {
        Ok("trace") => LevelFilter::Trace,
        Ok("debug") => LevelFilter::Debug,
        Ok("info") => LevelFilter::Info,
        Ok("error") => LevelFilter::Error,
        Ok("off") => LevelFilter::Off,
        _ => LevelFilter::Warn,
    };
    if log::set_logger(&LOGGER).is_ok() {
        log::set_max_level(level);
    }
}
