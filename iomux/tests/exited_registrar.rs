//! A registration made by a thread that has since exited keeps working.
//! io_uring ends the requests a thread submitted when the thread exits
//! (ECANCELED); the backend must arm them again, a oneshot included (found
//! by the poller_ops fuzz target: a oneshot registered that way never fired).
mod common;
use common::*;
use iomux::{Backend, Events, Interest, Mode, Token};

fn registration_outlives_its_thread(backend: Backend, mode: Mode) {
    let p = poller(backend);
    let (a, b) = pair();
    // The thread registers `a` with nobody waiting, so it submits the
    // request itself, then exits.
    let registrar = {
        let p = p.clone();
        std::thread::spawn(move || {
            p.register(&a, Token(7), Interest::READABLE, mode)
                .expect("register");
            a
        })
    };
    let a = registrar.join().expect("registering thread");
    send(&b, b"x");
    let mut events = Events::with_capacity(8);
    let evs = wait(&p, &mut events, MUST);
    assert!(
        !with_token(&evs, Token(7)).is_empty(),
        "{backend} {mode:?}: the registration of an exited thread never fired: {evs:?}"
    );
    p.deregister(&a).expect("deregister");
}

macro_rules! per_backend {
    ($($name:ident: $backend:expr;)*) => {$(
        #[test]
        fn $name() {
            for mode in [Mode::Level, Mode::Oneshot] {
                registration_outlives_its_thread($backend, mode);
            }
        }
    )*};
}

per_backend! {
    epoll: Backend::Epoll;
    poll: Backend::Poll;
    select: Backend::Select;
    uring: Backend::IoUring;
}
