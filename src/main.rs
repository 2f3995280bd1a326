//! The `kqlflow` command: a thin shell over [`kqlflow::cli`].

/// The dataflow allocates and frees a row (or a batch of rows) for nearly every update it
/// moves; mimalloc's thread-local free lists make that several times cheaper than the system
/// allocator and keep a long replay's heap from fragmenting. Built without the `mimalloc`
/// feature (`--no-default-features`), the system allocator is used, which heap profilers such
/// as heaptrack can follow.
#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    // The dataflow's worker threads (timely's) take their stack size from RUST_MIN_STACK: give
    // them room for plans as deep as the binder allows (`plan::MAX_PLAN_HEIGHT`), whose
    // rendering and evaluation recurse once per operator. Only the pages used are committed.
    if std::env::var_os("RUST_MIN_STACK").is_none() {
        // SAFETY: no other thread exists yet, so nothing reads the environment concurrently.
        unsafe { std::env::set_var("RUST_MIN_STACK", (64usize << 20).to_string()) };
    }
    std::process::exit(kqlflow::cli::main());
}
