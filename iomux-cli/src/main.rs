//! The `iomux` command: `serve`, `load`, `lab`, `pipes`, `soak`. The lab is
//! its own crate (`iomux-lab`), which runs this binary's `serve` and `load`
//! as child processes.

use clap::{Parser, Subcommand};

mod args;
mod load;
mod logger;
mod pipes;
mod proto;
mod reexec;
mod serve;
mod soak;

/// The result of a subcommand; errors are printed by `main`.
pub type CliResult = Result<(), Box<dyn std::error::Error + Send + Sync>>;

#[derive(Parser)]
#[command(name = "iomux", version, about = "Linux I/O models, measured")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve echo or HTTP/1.1 in one of the five I/O models.
    Serve(serve::ServeArgs),
    /// Closed-loop load: N connections, K active, latency percentiles.
    Load(load::LoadArgs),
    /// Run every model through the matrix and report on the seeds' claims.
    Lab(iomux_lab::LabArgs),
    /// The dispatch micro-benchmark of libevent's bench.c, and bare waits.
    Pipes(pipes::PipesArgs),
    /// ~19,000 connections with faults against each model; checks survival.
    Soak(soak::SoakArgs),
}

fn main() {
    logger::install();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(args) => serve::run(args),
        Command::Pipes(args) => pipes::run(args),
        Command::Load(args) => load::run(args),
        Command::Lab(args) => iomux_lab::run(args),
        Command::Soak(args) => soak::run(args),
    };
    if let Err(e) = result {
        eprintln!("iomux: {e}");
        std::process::exit(1);
    }
}
