//! The two files of iomux-cli's `proto` module that HTTP needs, by path.

#[path = "../../iomux-cli/src/proto/limits.rs"]
mod limits;
pub use limits::Limits;

#[path = "../../iomux-cli/src/proto/http/mod.rs"]
pub mod http;
