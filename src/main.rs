//! The `kqlflow` command: a thin shell over [`kqlflow::cli`].

use std::alloc::{GlobalAlloc, Layout};

/// The dataflow allocates and frees a row (or a batch of rows) for nearly every update it
/// moves; mimalloc's thread-local free lists make that several times cheaper than the system
/// allocator and keep a long replay's heap from fragmenting. It is built without transparent
/// huge pages (mimalloc's `no_thp`): with them, memory is faulted in by 2 MiB pages and the
/// resident peak of a replay was 10–25% above its heap. Built without the `mimalloc`
/// feature (`--no-default-features`), the system allocator is used, which heap profilers such
/// as heaptrack can follow.
#[cfg(feature = "mimalloc")]
static INNER: mimalloc::MiMalloc = mimalloc::MiMalloc;
#[cfg(not(feature = "mimalloc"))]
static INNER: std::alloc::System = std::alloc::System;

/// The allocator: [`INNER`], and when an allocation fails, one line on standard error that
/// says so (with the address-space limit, when one is set) and exit code 1, instead of an
/// abort that names no cause.
struct Guarded;

#[global_allocator]
static ALLOCATOR: Guarded = Guarded;

// SAFETY: every call is forwarded to `INNER` with the same arguments; a null result (a failed
// allocation) never returns.
unsafe impl GlobalAlloc for Guarded {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded with the caller's layout.
        let p = unsafe { INNER.alloc(layout) };
        if p.is_null() {
            out_of_memory(layout.size());
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded with the caller's layout.
        let p = unsafe { INNER.alloc_zeroed(layout) };
        if p.is_null() {
            out_of_memory(layout.size());
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` was allocated by `INNER` (through this allocator) with `layout`.
        unsafe { INNER.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: `ptr` was allocated by `INNER` with `layout`, as the caller promises.
        let p = unsafe { INNER.realloc(ptr, layout, new_size) };
        if p.is_null() {
            out_of_memory(new_size);
        }
        p
    }
}

/// Writes why the run stops, without allocating, and exits with code 1.
fn out_of_memory(size: usize) -> ! {
    let mut msg = Line::default();
    msg.push(b"error: kqlflow ran out of memory (an allocation of ");
    msg.number(size as u64);
    msg.push(b" bytes failed)");
    match kqlflow::runtime::address_space_limit() {
        Some(limit) => {
            msg.push(b" under the address-space limit of ");
            msg.number(limit >> 20);
            msg.push(
                b" MiB (ulimit -v): raise the limit, or hunt over fewer days or rules at once\n",
            );
        }
        None => msg.push(b": hunt over fewer days or rules at once, or on a larger machine\n"),
    }
    msg.write_stderr();
    // SAFETY: ends the process at once, as an abort would, without running code that may
    // allocate.
    #[cfg(unix)]
    unsafe {
        libc::_exit(1)
    }
    #[cfg(not(unix))]
    std::process::abort()
}

/// A line built on the stack, so that it can be written when no memory is left.
struct Line {
    buf: [u8; 512],
    len: usize,
}

impl Default for Line {
    fn default() -> Line {
        Line {
            buf: [0; 512],
            len: 0,
        }
    }
}

impl Line {
    fn push(&mut self, bytes: &[u8]) {
        let n = bytes.len().min(self.buf.len() - self.len);
        self.buf[self.len..self.len + n].copy_from_slice(&bytes[..n]);
        self.len += n;
    }

    fn number(&mut self, mut x: u64) {
        let mut digits = [0u8; 20];
        let mut i = digits.len();
        loop {
            i -= 1;
            digits[i] = b'0' + (x % 10) as u8;
            x /= 10;
            if x == 0 {
                break;
            }
        }
        self.push(&digits[i..]);
    }

    fn write_stderr(&self) {
        #[cfg(unix)]
        // SAFETY: writes initialised bytes of `buf` to file descriptor 2.
        unsafe {
            libc::write(2, self.buf.as_ptr().cast(), self.len);
        }
        #[cfg(not(unix))]
        {
            use std::io::Write;
            let _ = std::io::stderr().write_all(&self.buf[..self.len]);
        }
    }
}

fn main() {
    // The dataflow's worker threads (timely's) take their stack size from RUST_MIN_STACK: give
    // them room for plans as deep as the binder allows (`plan::MAX_PLAN_HEIGHT`), whose
    // rendering and evaluation recurse once per operator. Only the pages used are committed,
    // but under an address-space limit (`ulimit -v`) every stack counts whole: there they get
    // a sixteenth of the limit each, between 8 and 64 MiB.
    if std::env::var_os("RUST_MIN_STACK").is_none() {
        let stack = match kqlflow::runtime::address_space_limit() {
            Some(limit) => (limit / 16).clamp(8 << 20, 64 << 20),
            None => 64 << 20,
        };
        // SAFETY: no other thread exists yet, so nothing reads the environment concurrently.
        unsafe { std::env::set_var("RUST_MIN_STACK", stack.to_string()) };
    }
    std::process::exit(kqlflow::cli::main());
}
