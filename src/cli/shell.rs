//! `kqlflow completions SHELL` and `kqlflow man`: shell completion scripts and man pages,
//! generated from the command line's clap definitions so that they always match it.

use clap::{Args, CommandFactory};
use clap_complete::Shell;
use std::path::PathBuf;

/// Arguments of `kqlflow completions`.
#[derive(Args, Debug)]
#[command(after_help = "Examples:\n  \
kqlflow completions bash > ~/.local/share/bash-completion/completions/kqlflow\n  \
kqlflow completions zsh > ~/.zfunc/_kqlflow        (with fpath+=~/.zfunc before compinit)\n  \
kqlflow completions fish > ~/.config/fish/completions/kqlflow.fish")]
pub struct CompletionsArgs {
    /// The shell to write the completion script for.
    #[arg(value_enum)]
    shell: Shell,
}

/// Arguments of `kqlflow man`.
#[derive(Args, Debug)]
#[command(after_help = "Examples:\n  \
kqlflow man | man -l -\n  \
kqlflow man --dir ~/.local/share/man/man1   (kqlflow.1 and one page per command, kqlflow-hunt.1, …)")]
pub struct ManArgs {
    /// Write the pages into DIR (`kqlflow.1` and `kqlflow-COMMAND.1` for each command) instead
    /// of printing `kqlflow.1` on standard output.
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
}

/// Runs `kqlflow completions`: prints the script on standard output. 0, or 1 when it cannot be
/// written.
pub fn completions(args: &CompletionsArgs) -> i32 {
    let mut cmd = super::Cli::command();
    let mut out = Vec::new();
    clap_complete::generate(args.shell, &mut cmd, "kqlflow", &mut out);
    write_stdout(&out)
}

/// Runs `kqlflow man`: prints the main page, or writes every page into `--dir`. 0, or 1 when
/// a page cannot be written.
pub fn man(args: &ManArgs) -> i32 {
    let cmd = super::Cli::command();
    match &args.dir {
        Some(dir) => {
            if let Err(e) = std::fs::create_dir_all(dir) {
                eprintln!("error: creating {}: {e}", dir.display());
                return 1;
            }
            match clap_mangen::generate_to(cmd, dir) {
                Ok(()) => {
                    eprintln!("man pages written to {}", dir.display());
                    0
                }
                Err(e) => {
                    eprintln!("error: writing the man pages into {}: {e}", dir.display());
                    1
                }
            }
        }
        None => {
            let mut out = Vec::new();
            if let Err(e) = clap_mangen::Man::new(cmd).render(&mut out) {
                eprintln!("error: rendering the man page: {e}");
                return 1;
            }
            write_stdout(&out)
        }
    }
}

/// Writes `bytes` to standard output: 0, or 1 when it is closed or fails.
fn write_stdout(bytes: &[u8]) -> i32 {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    match stdout.write_all(bytes).and_then(|()| stdout.flush()) {
        Ok(()) => 0,
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => 1,
        Err(e) => {
            eprintln!("error: writing to standard output: {e}");
            1
        }
    }
}
