//! Oneshot and EdgeOneshot: at most one event, then silent until re-armed.
#[macro_use]
mod common;
use common::*;
use iomux::{Events, Interest, Mode, Token};

fn oneshot_fires_once_until_rearmed(backend: iomux::Backend) {
    for mode in oneshot_modes(backend) {
        let p = poller(backend);
        let (a, b) = pair();
        p.register(&a, Token(3), Interest::READABLE, mode).unwrap();
        let mut events = Events::with_capacity(16);
        send(&b, b"x");
        let evs = wait(&p, &mut events, MUST);
        assert_eq!(
            with_token(&evs, Token(3)).len(),
            1,
            "{backend} {mode:?}: first: {evs:?}"
        );
        send(&b, b"y");
        for _ in 0..3 {
            let evs = wait(&p, &mut events, MUST_NOT);
            assert!(
                evs.is_empty(),
                "{backend} {mode:?}: fired again unarmed: {evs:?}"
            );
        }
        // Even a hang-up stays silent while disarmed.
        drop(b);
        assert!(
            wait(&p, &mut events, MUST_NOT).is_empty(),
            "{backend} {mode:?}: HUP while disarmed"
        );
        p.modify(&a, Token(4), Interest::READABLE, mode).unwrap();
        let evs = wait(&p, &mut events, MUST);
        assert_eq!(
            with_token(&evs, Token(4)).len(),
            1,
            "{backend} {mode:?}: re-armed: {evs:?}"
        );
        assert!(
            with_token(&evs, Token(3)).is_empty(),
            "{backend} {mode:?}: old token after modify"
        );
        assert!(
            wait(&p, &mut events, MUST_NOT).is_empty(),
            "{backend} {mode:?}: second shot"
        );
    }
}
on_every_backend!(oneshot_fires_once_until_rearmed);

/// Oneshot everywhere; EdgeOneshot where edges are native (elsewhere it is
/// refused: `edge::edge_without_native_edges_is_unsupported`).
fn oneshot_modes(backend: iomux::Backend) -> Vec<Mode> {
    let mut modes = vec![Mode::Oneshot];
    if backend.supports_edge() {
        modes.push(Mode::EdgeOneshot);
    }
    modes
}
