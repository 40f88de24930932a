//! Detached threads with small stacks and nothing else, for the blocking
//! model's one thread per connection.
//!
//! Why not `std::thread`: besides its stack (a mapping plus a guard page:
//! two VMAs), every std thread maps an alternate signal stack with its own
//! guard page (two more VMAs) for stack-overflow reports. At four VMAs a
//! thread, the default `vm.max_map_count` of 65,530 stops a process near
//! 16,000 threads — the mapping fails and std aborts. A plain pthread with a
//! 64 KiB stack costs two VMAs, so 19,000 connection threads fit.
//!
//! What is lost: a stack overflow in such a thread is a plain SIGSEGV (no
//! "thread overflowed its stack" message). Panics are caught at the thread's
//! top and end only that thread.

use std::ffi::c_void;
use std::io;

type Job = Box<dyn FnOnce() + Send + 'static>;

extern "C" fn trampoline(arg: *mut c_void) -> *mut c_void {
    // SAFETY: `arg` is the `Box<Job>` leaked by `spawn` for this thread only.
    let job: Box<Job> = unsafe { Box::from_raw(arg.cast::<Job>()) };
    // A panic must not unwind into the C caller.
    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
    std::ptr::null_mut()
}

/// Runs `f` on a new detached thread with a `stack`-byte stack.
pub fn spawn(stack: usize, f: impl FnOnce() + Send + 'static) -> io::Result<()> {
    let job: Box<Job> = Box::new(Box::new(f));
    let arg = Box::into_raw(job).cast::<c_void>();
    // SAFETY: `attr` is initialised before use and destroyed after; `arg`
    // is handed to exactly one thread (or reclaimed below if none starts).
    unsafe {
        let mut attr: libc::pthread_attr_t = std::mem::zeroed();
        let mut rc = libc::pthread_attr_init(&mut attr);
        if rc == 0 {
            rc = libc::pthread_attr_setstacksize(&mut attr, stack.max(libc::PTHREAD_STACK_MIN));
        }
        if rc == 0 {
            rc = libc::pthread_attr_setdetachstate(&mut attr, libc::PTHREAD_CREATE_DETACHED);
        }
        if rc == 0 {
            let mut thread: libc::pthread_t = 0;
            rc = libc::pthread_create(&mut thread, &attr, trampoline, arg);
        }
        libc::pthread_attr_destroy(&mut attr);
        if rc != 0 {
            drop(Box::from_raw(arg.cast::<Job>()));
            return Err(io::Error::from_raw_os_error(rc));
        }
    }
    Ok(())
}
