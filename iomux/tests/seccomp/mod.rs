//! A seccomp filter that makes `io_uring_setup` fail, for the tests of what
//! happens where io_uring cannot be had (here and in iomux-cli's
//! `uring_lifecycle.rs`, which includes this file by path). Flipping the
//! real `kernel.io_uring_disabled` sysctl would disturb every other process
//! on the machine.

/// Makes `io_uring_setup` fail with `errno` in this process and its future
/// threads. Runs between fork and exec: system calls only.
pub fn deny_io_uring_setup(errno: u32) -> std::io::Result<()> {
    let op = |code: u32| code as u16;
    let filter = [
        // A = seccomp_data.nr (offset 0). The architecture is not checked:
        // this filter lives for one short-lived test process.
        libc::sock_filter {
            code: op(libc::BPF_LD | libc::BPF_W | libc::BPF_ABS),
            jt: 0,
            jf: 0,
            k: 0,
        },
        libc::sock_filter {
            code: op(libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K),
            jt: 0,
            jf: 1,
            k: libc::SYS_io_uring_setup as u32,
        },
        libc::sock_filter {
            code: op(libc::BPF_RET | libc::BPF_K),
            jt: 0,
            jf: 0,
            k: libc::SECCOMP_RET_ERRNO | errno,
        },
        libc::sock_filter {
            code: op(libc::BPF_RET | libc::BPF_K),
            jt: 0,
            jf: 0,
            k: libc::SECCOMP_RET_ALLOW,
        },
    ];
    let prog = libc::sock_fprog {
        len: filter.len() as u16,
        filter: filter.as_ptr() as *mut libc::sock_filter,
    };
    // SAFETY: (test) prctl with integer arguments; `prog` and `filter` are
    // alive during the call, and the kernel copies the program.
    let ok = unsafe {
        libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0
            && libc::prctl(
                libc::PR_SET_SECCOMP,
                libc::SECCOMP_MODE_FILTER,
                &prog as *const libc::sock_fprog,
            ) == 0
    };
    if ok {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}
