//! The `kqlflow` command: a thin shell over [`kqlflow::cli`].

/// The dataflow allocates and frees a row (or a batch of rows) for nearly every update it
/// moves; mimalloc's thread-local free lists make that several times cheaper than the system
/// allocator and keep a long replay's heap from fragmenting.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    std::process::exit(kqlflow::cli::main());
}
