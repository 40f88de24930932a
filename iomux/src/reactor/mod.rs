//! The reactor: one event loop per thread on top of the [`Poller`](crate::Poller).
//! (EventLoop, timers, Acceptor, Connection and LoopGroup come with the reactor issue.)

mod handler;

pub use handler::{Action, Handler};
