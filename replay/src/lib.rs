//! Replay tooling for kqlflow that does not depend on the engine: the tenant simulator
//! (`kqlflow generate`), latency recording with hdrhistogram, replay pacing and peak memory.
//! The engine side of a replay (feeding the dataflows tick by tick and probing them) is
//! `kqlflow::pack` and `kqlflow::runtime::live`.

pub mod latency;
pub mod sim;
