//! The share of the log files each process of a cluster reads.

use std::path::PathBuf;

/// The log files process `process` of `processes` reads of `paths`: with one process, `paths`
/// as given; with several, directories are expanded into their files and the files dealt out
/// by size (largest first, each to the process with the fewest bytes so far; ties to the
/// lowest index), so that every process computes the same split and no file is read twice.
/// Standard input (`-`) is each process's own.
pub fn share_of_files(paths: &[PathBuf], processes: usize, process: usize) -> Vec<PathBuf> {
    if processes <= 1 {
        return paths.to_vec();
    }
    let files = crate::ingest::log_files(paths);
    let mut sized: Vec<(u64, PathBuf)> = Vec::new();
    let mut mine = Vec::new();
    for f in files {
        if f.as_os_str() == "-" {
            mine.push(f);
        } else {
            let size = std::fs::metadata(&f).map(|m| m.len()).unwrap_or(0);
            sized.push((size, f));
        }
    }
    sized.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
    let mut load = vec![0u64; processes];
    for (size, f) in sized {
        let mut target = 0;
        for (i, l) in load.iter().enumerate() {
            if *l < load[target] {
                target = i;
            }
        }
        load[target] += size.max(1);
        if target == process {
            mine.push(f);
        }
    }
    mine.sort();
    mine
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_file_goes_to_exactly_one_process_balanced_by_size() {
        let dir = tempfile::tempdir().unwrap();
        let sizes = [100, 10, 60, 50, 5, 40];
        for (i, n) in sizes.iter().enumerate() {
            std::fs::write(dir.path().join(format!("f{i}.jsonl")), vec![b'x'; *n]).unwrap();
        }
        let paths = vec![dir.path().to_path_buf()];
        let shares: Vec<Vec<PathBuf>> = (0..3).map(|p| share_of_files(&paths, 3, p)).collect();
        let mut all: Vec<PathBuf> = shares.iter().flatten().cloned().collect();
        all.sort();
        let mut expected = crate::ingest::log_files(&paths);
        expected.sort();
        assert_eq!(all, expected);
        let bytes: Vec<u64> = shares
            .iter()
            .map(|s| s.iter().map(|f| std::fs::metadata(f).unwrap().len()).sum())
            .collect();
        // 100 | 60+10+5 | 50+40: no process gets much more than its third of 265.
        assert_eq!(bytes, vec![100, 75, 90]);
        assert_eq!(share_of_files(&paths, 1, 0), paths);
    }
}
