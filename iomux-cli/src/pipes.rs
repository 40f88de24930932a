//! `iomux pipes`: libevent's bench.c method, and bare-wait timings.

use clap::Args;

use crate::CliResult;

/// Arguments of `iomux pipes`.
#[derive(Args, Clone, Debug)]
pub struct PipesArgs {}

/// Runs the benchmark.
pub fn run(_args: PipesArgs) -> CliResult {
    Err("not implemented yet".into())
}
