//! The cluster options shared by the commands that run dataflows (`run`, `hunt`, `replay`).
//! Which log files each process reads is [`crate::logs::share_of_files`].

use clap::Args;
use std::path::PathBuf;

use crate::runtime::ClusterOptions;

/// Timely's cluster options: `-w` threads per process, `-n` processes, `-p` this process, as
/// timely names them; the hostfile is `--hostfile` (timely's `-h`), so that `-h` is help as in
/// every other command.
#[derive(Args, Debug, Clone)]
pub struct ClusterArgs {
    /// Worker threads per process.
    #[arg(short = 'w', long = "workers", default_value_t = 1)]
    pub workers: usize,
    /// Processes in the cluster; each is started with the same arguments but its own -p, and
    /// reads its share of the log files.
    #[arg(short = 'n', long = "processes", default_value_t = 1)]
    pub processes: usize,
    /// This process's index in the cluster, from 0; process 0 prints the results.
    #[arg(short = 'p', long = "process", default_value_t = 0)]
    pub process: usize,
    /// A file with one `host:port` line per process (default: localhost:2101, 2102, …).
    #[arg(long = "hostfile", value_name = "FILE")]
    pub hostfile: Option<PathBuf>,
    /// Seconds to wait for the other processes before giving up.
    #[arg(long, default_value_t = 60, value_name = "SECONDS")]
    pub connect_timeout: u64,
}

impl ClusterArgs {
    /// The runtime's options for these arguments.
    pub fn options(&self) -> ClusterOptions {
        ClusterOptions {
            workers: self.workers,
            processes: self.processes,
            process: self.process,
            hostfile: self.hostfile.clone(),
            connect_timeout: std::time::Duration::from_secs(self.connect_timeout),
        }
    }
}

/// What a process other than 0 says when its part is done: what it read, and who prints.
pub fn follower_done(cluster: &ClusterOptions, files: usize, records: u64, prints: &str) {
    eprintln!(
        "process {} of {}: read {records} records from {files} file(s); done (process 0 prints {prints})",
        cluster.process, cluster.processes
    );
}
