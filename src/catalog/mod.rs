//! The table catalog. Not built yet.
