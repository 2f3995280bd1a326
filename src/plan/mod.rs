//! Planning: name resolution, types, constant folding, `let`s and functions, template times,
//! temporal analysis, and the typed relational IR ([`ir`]) that both evaluators run.
//!
//! [`bind()`] turns a parsed query into a [`Program`]; [`Program::explain`] prints it;
//! [`optimize()`] moves its filters down the plan (predicate pushdown) for the incremental
//! engine.
//!
//! ```
//! use kqlflow::{catalog::Catalog, kql, plan};
//!
//! let src = "SigninLogs | where TimeGenerated > ago(1h) | summarize count() by IPAddress";
//! let q = kql::parse(src).unwrap();
//! let p = plan::bind(src, &q, Catalog::builtin(), &plan::BindOptions::default()).unwrap();
//! let cols: Vec<String> = p.schema().iter().map(|c| format!("{}:{}", c.name, c.ty)).collect();
//! assert_eq!(cols, ["IPAddress:string", "count_:long"]);
//! ```

pub mod bind;
pub mod external;
pub mod ir;
pub mod optimize;
pub mod window;

pub use bind::{
    BindError, BindOptions, Folded, PeriodWindow, WindowScope, bind, fold, infer_name,
    watchlist_columns,
};
pub use ir::{
    AggCall, BoundOp, EvalCtx, ExpandItem, JoinKind, Node, NowBound, Plan, Program, ScalarExpr,
    SeriesAxis, SortKey, TemporalBound, UnionInput, Warning, WindowFn, cast,
};
pub use optimize::optimize;
