//! Replay tooling for kqlflow: the tenant simulator and the accelerated replayer.
//!
//! Not built yet: this crate only reserves its place in the workspace. The README lists what is
//! missing.
