//! The `kqlflow` command: a thin shell over [`kqlflow::cli`].

fn main() {
    std::process::exit(kqlflow::cli::main());
}
