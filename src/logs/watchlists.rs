//! Watchlists' CSV files, read into the watchlists the rules join against.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::eval::Watchlist;

/// A watchlist's files: its first version and its later ones with the event time each takes
/// effect from.
#[derive(Clone, Debug, Default)]
pub struct WatchlistFiles {
    /// The first version, in effect from the start.
    pub first: Option<PathBuf>,
    /// Later versions, in time order.
    pub later: Vec<(i64, PathBuf)>,
}

impl WatchlistFiles {
    /// Every file, the first version first.
    pub fn paths(&self) -> impl Iterator<Item = &PathBuf> {
        self.first.iter().chain(self.later.iter().map(|(_, p)| p))
    }
}

/// Reads a watchlist's CSV file (a header line naming the columns, then one row per line).
pub fn read_watchlist(path: &Path) -> Result<Watchlist, String> {
    std::fs::read_to_string(path)
        .map_err(|e| e.to_string())
        .and_then(|t| Watchlist::from_csv(&t))
        .map_err(|e| format!("watchlist {}: {e}", path.display()))
}

/// Reads each watchlist's files by name: its first version, with each later version in its
/// [`Watchlist::updates`] from the event time it takes effect. A watchlist without a first
/// version is left out; the first file that cannot be read or parsed is the error.
pub fn load_watchlists(
    files: &HashMap<String, WatchlistFiles>,
) -> Result<HashMap<String, Watchlist>, String> {
    let mut out = HashMap::new();
    for (name, files) in files {
        let Some(first) = &files.first else {
            continue;
        };
        let mut w = read_watchlist(first)?;
        for (from, path) in &files.later {
            w.updates.push((*from, read_watchlist(path)?));
        }
        out.insert(name.clone(), w);
    }
    Ok(out)
}
