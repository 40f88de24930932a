//! What the fuzz targets share: iomux-cli's HTTP framing, compiled from its
//! own source, and a harness that feeds it bytes the way a connection does.
//!
//! The HTTP module is included by path rather than through a library
//! target of iomux-cli: the command stays a plain binary with private
//! modules, and the fuzz crate compiles exactly the code the server runs.
//! The module only needs `crate::proto::Limits` beside it, which `proto.rs`
//! includes the same way.

pub mod proto;

pub mod framing;
pub mod poller_model;
