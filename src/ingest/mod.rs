//! Log readers. Not built yet.
