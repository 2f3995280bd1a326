//! The value model: KQL scalar [`Value`]s, their [`Type`]s, [`Row`]s and table [`Schema`]s, and
//! Kusto's conversion functions over them.
//!
//! Values are cheap to clone (dynamic arrays and objects are reference counted; strings too,
//! or immortal when interned: see [`Str`]),
//! totally ordered and hashable (so that they can be keys of differential arrangements), and
//! serialisable with serde (so that they can cross process boundaries in a timely cluster).

mod convert;
mod json;
mod schema;
mod str;
mod time;
mod types;
mod value;

pub use convert::{
    DOTNET_EPOCH_TICKS, parse_json, tobool, todatetime, todynamic, toint, tolong, toreal, tostring,
    totimespan,
};
pub use json::{from_json, to_json_text, write_json};
pub(crate) use schema::edit_distance;
pub use schema::{Column, Row, Schema};
pub use str::IMMORTAL_BUDGET;
pub use time::{
    TICKS_PER_DAY, TICKS_PER_HOUR, TICKS_PER_MILLI, TICKS_PER_MINUTE, TICKS_PER_SECOND,
    format_datetime_iso, format_timespan, parse_datetime, parse_timespan, parse_timespan_literal,
};
pub(crate) use time::{civil_from_days, ticks_of};
pub use types::Type;
pub use value::{Interner, Str, Value};
