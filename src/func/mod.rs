//! One implementation of every scalar function, operator and aggregate, used by both the batch
//! evaluator and the incremental engine: [`ops`] for operators, [`scalar`] for functions (with
//! the [`scalar_fn`] registry that says how many arguments each takes and what it returns;
//! [`more`], [`hash`], [`series`] and [`xml`] hold the rest of them), and
//! [`agg`] for aggregates (with the [`aggregate_fn`] registry and Kusto's generated column
//! names).

pub mod agg;
pub mod autocluster;
pub mod basket;
pub mod exact;
pub mod hash;
pub mod more;
pub mod ops;
pub mod scalar;
pub mod series;
pub mod xml;

use regex::Regex;
use std::cell::RefCell;
use std::collections::HashMap;

use crate::model::{Type, Value};
use agg::AggKind;
use more::*;
use scalar::*;

/// How a function's result type follows from its arguments.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ret {
    /// Always this type.
    Fixed(Type),
    /// The type of argument `i` (e.g. `iff`'s `then`).
    Arg(usize),
}

/// A scalar function: its name, arity and implementation.
pub struct ScalarFn {
    /// The name as KQL writes it.
    pub name: &'static str,
    /// Fewest arguments.
    pub min_args: usize,
    /// Most arguments (`usize::MAX` for any number).
    pub max_args: usize,
    /// The result type.
    pub ret: Ret,
    /// The implementation over evaluated arguments.
    pub eval: fn(&[Value]) -> Value,
}

impl ScalarFn {
    /// The result type given the argument types.
    pub fn result_type(&self, args: &[Type]) -> Type {
        match self.ret {
            Ret::Fixed(t) => t,
            Ret::Arg(i) => args.get(i).copied().unwrap_or(Type::Dynamic),
        }
    }
}

const ANY: usize = usize::MAX;

macro_rules! f {
    ($name:expr, $min:expr, $max:expr, $ret:expr, $eval:expr) => {
        ScalarFn {
            name: $name,
            min_args: $min,
            max_args: $max,
            ret: $ret,
            eval: $eval,
        }
    };
}

use Ret::{Arg, Fixed};
use Type as T;

/// Every scalar function kqlflow implements. (`now()` and `ago()` are not here: the planner
/// turns them into time intervals.)
pub static SCALAR_FUNCTIONS: &[ScalarFn] = &[
    f!("tostring", 1, 1, Fixed(T::String), f_tostring),
    f!("toint", 1, 1, Fixed(T::Int), f_toint),
    f!("tolong", 1, 1, Fixed(T::Long), f_tolong),
    f!("toreal", 1, 1, Fixed(T::Real), f_toreal),
    f!("todouble", 1, 1, Fixed(T::Real), f_toreal),
    f!("todecimal", 1, 1, Fixed(T::Real), f_toreal),
    f!("tobool", 1, 1, Fixed(T::Bool), f_tobool),
    f!("toboolean", 1, 1, Fixed(T::Bool), f_tobool),
    f!("todatetime", 1, 1, Fixed(T::DateTime), f_todatetime),
    f!("totimespan", 1, 1, Fixed(T::TimeSpan), f_totimespan),
    f!("parse_json", 1, 1, Fixed(T::Dynamic), f_parse_json),
    f!("todynamic", 1, 1, Fixed(T::Dynamic), f_parse_json),
    f!("toobject", 1, 1, Fixed(T::Dynamic), f_parse_json),
    f!("tolower", 1, 1, Fixed(T::String), f_tolower),
    f!("toupper", 1, 1, Fixed(T::String), f_toupper),
    f!("strcat", 1, ANY, Fixed(T::String), f_strcat),
    f!("strcat_array", 2, 2, Fixed(T::String), f_strcat_array),
    f!("strlen", 1, 1, Fixed(T::Long), f_strlen),
    f!("substring", 2, 3, Fixed(T::String), f_substring),
    f!("split", 2, 3, Fixed(T::Dynamic), f_split),
    f!("replace_string", 3, 3, Fixed(T::String), f_replace_string),
    f!("replace_regex", 3, 3, Fixed(T::String), f_replace_regex),
    f!("trim", 2, 2, Fixed(T::String), f_trim),
    f!("trim_start", 2, 2, Fixed(T::String), f_trim_start),
    f!("trim_end", 2, 2, Fixed(T::String), f_trim_end),
    f!("extract", 3, 4, Fixed(T::String), f_extract),
    f!("indexof", 2, 2, Fixed(T::Long), f_indexof),
    f!("extractjson", 2, 3, Fixed(T::String), f_extractjson),
    f!("extract_json", 2, 3, Fixed(T::String), f_extractjson),
    f!("iff", 3, 3, Arg(1), f_iff),
    f!("iif", 3, 3, Arg(1), f_iff),
    f!("case", 3, ANY, Arg(1), f_case),
    f!("coalesce", 1, ANY, Arg(0), f_coalesce),
    f!("isempty", 1, 1, Fixed(T::Bool), f_isempty),
    f!("isnotempty", 1, 1, Fixed(T::Bool), f_isnotempty),
    f!("notempty", 1, 1, Fixed(T::Bool), f_isnotempty),
    f!("isnull", 1, 1, Fixed(T::Bool), f_isnull),
    f!("isnotnull", 1, 1, Fixed(T::Bool), f_isnotnull),
    f!("notnull", 1, 1, Fixed(T::Bool), f_isnotnull),
    f!("pack", 0, ANY, Fixed(T::Dynamic), f_pack),
    f!("bag_pack", 0, ANY, Fixed(T::Dynamic), f_pack),
    f!("pack_array", 0, ANY, Fixed(T::Dynamic), f_pack_array),
    f!("array_length", 1, 1, Fixed(T::Long), f_array_length),
    f!("set_has_element", 2, 2, Fixed(T::Bool), f_set_has_element),
    f!(
        "set_difference",
        2,
        ANY,
        Fixed(T::Dynamic),
        f_set_difference
    ),
    f!("array_concat", 1, ANY, Fixed(T::Dynamic), f_array_concat),
    f!("bag_keys", 1, 1, Fixed(T::Dynamic), f_bag_keys),
    f!("round", 1, 2, Arg(0), f_round),
    f!("abs", 1, 1, Arg(0), f_abs),
    f!("sqrt", 1, 1, Fixed(T::Real), f_sqrt),
    f!("log", 1, 1, Fixed(T::Real), f_log),
    f!("exp", 1, 1, Fixed(T::Real), f_exp),
    f!("pow", 2, 2, Fixed(T::Real), f_pow),
    f!("min_of", 1, ANY, Arg(0), f_min_of),
    f!("max_of", 1, ANY, Arg(0), f_max_of),
    f!("bin", 2, 2, Arg(0), f_bin),
    f!("floor", 2, 2, Arg(0), f_bin),
    f!("startofday", 1, 2, Fixed(T::DateTime), f_startofday),
    f!("endofday", 1, 2, Fixed(T::DateTime), f_endofday),
    f!("startofweek", 1, 2, Fixed(T::DateTime), f_startofweek),
    f!("startofmonth", 1, 2, Fixed(T::DateTime), f_startofmonth),
    f!("datetime_add", 3, 3, Fixed(T::DateTime), f_datetime_add),
    f!("datetime_diff", 3, 3, Fixed(T::Long), f_datetime_diff),
    f!("format_datetime", 2, 2, Fixed(T::String), f_format_datetime),
    f!("ipv4_is_in_range", 2, 2, Fixed(T::Bool), f_ipv4_is_in_range),
    f!(
        "ipv4_is_in_any_range",
        2,
        ANY,
        Fixed(T::Bool),
        f_ipv4_is_in_any_range
    ),
    f!("ipv4_compare", 2, 3, Fixed(T::Long), f_ipv4_compare),
    f!("ipv4_is_private", 1, 1, Fixed(T::Bool), f_ipv4_is_private),
    f!("parse_ipv4", 1, 1, Fixed(T::Long), f_parse_ipv4),
    f!("gettype", 1, 1, Fixed(T::String), f_gettype),
    // Deprecated names public rules still use.
    f!("replace", 3, 3, Fixed(T::String), f_replace),
    f!("arraylength", 1, 1, Fixed(T::Long), f_array_length),
    f!("parsejson", 1, 1, Fixed(T::Dynamic), f_parse_json),
    f!(
        "base64_decodestring",
        1,
        1,
        Fixed(T::String),
        f_base64_decode_tostring
    ),
    f!(
        "base64_encodestring",
        1,
        1,
        Fixed(T::String),
        f_base64_encode_tostring
    ),
    f!("array_strcat", 2, 2, Fixed(T::String), f_strcat_array),
    f!("getmonth", 1, 1, Fixed(T::Int), f_getmonth),
    f!("getyear", 1, 1, Fixed(T::Int), f_getyear),
    // Strings, arrays, encodings.
    f!("countof", 2, 3, Fixed(T::Long), f_countof),
    f!("ipv4_is_match", 2, 3, Fixed(T::Bool), f_ipv4_is_match),
    f!("tohex", 1, 2, Fixed(T::String), f_tohex),
    f!("string_size", 1, 1, Fixed(T::Long), f_string_size),
    f!("reverse", 1, 1, Fixed(T::String), f_reverse),
    f!("log2", 1, 1, Fixed(T::Real), f_log2),
    f!("log10", 1, 1, Fixed(T::Real), f_log10),
    f!("set_union", 1, ANY, Fixed(T::Dynamic), f_set_union),
    f!("array_index_of", 2, 5, Fixed(T::Long), f_array_index_of),
    f!("array_slice", 3, 3, Fixed(T::Dynamic), f_array_slice),
    f!("extract_all", 2, 3, Fixed(T::Dynamic), f_extract_all),
    f!(
        "base64_decode_tostring",
        1,
        1,
        Fixed(T::String),
        f_base64_decode_tostring
    ),
    f!(
        "base64_decode_toarray",
        1,
        1,
        Fixed(T::Dynamic),
        f_base64_decode_toarray
    ),
    f!(
        "base64_encode_tostring",
        1,
        1,
        Fixed(T::String),
        f_base64_encode_tostring
    ),
    f!("parse_url", 1, 1, Fixed(T::Dynamic), f_parse_url),
    f!("parse_xml", 1, 1, Fixed(T::Dynamic), xml::f_parse_xml),
    f!("parse_ipv6", 1, 1, Fixed(T::String), f_parse_ipv6),
    f!("ipv6_compare", 2, 3, Fixed(T::Long), f_ipv6_compare),
    f!("ipv6_is_match", 2, 3, Fixed(T::Bool), f_ipv6_is_match),
    f!("ipv6_is_in_range", 2, 2, Fixed(T::Bool), f_ipv6_is_in_range),
    f!(
        "ipv6_is_in_any_range",
        2,
        ANY,
        Fixed(T::Bool),
        f_ipv6_is_in_any_range
    ),
    f!("url_decode", 1, 1, Fixed(T::String), f_url_decode),
    f!("url_encode", 1, 1, Fixed(T::String), f_url_encode),
    f!("url_encode_component", 1, 1, Fixed(T::String), f_url_encode),
    // The binder passes the row's values: see f_new_guid.
    f!("new_guid", 0, ANY, Fixed(T::String), f_new_guid),
    // Date parts.
    f!("monthofyear", 1, 1, Fixed(T::Int), f_getmonth),
    f!("dayofmonth", 1, 1, Fixed(T::Int), f_dayofmonth),
    f!("dayofyear", 1, 1, Fixed(T::Int), f_dayofyear),
    f!("hourofday", 1, 1, Fixed(T::Int), f_hourofday),
    f!("dayofweek", 1, 1, Fixed(T::TimeSpan), f_dayofweek),
    f!("weekofyear", 1, 1, Fixed(T::Int), f_weekofyear),
    f!("week_of_year", 1, 1, Fixed(T::Int), f_weekofyear),
    f!("datetime_part", 2, 2, Fixed(T::Int), f_datetime_part),
    f!("make_datetime", 3, 6, Fixed(T::DateTime), f_make_datetime),
    f!("bin_at", 3, 3, Arg(0), f_bin_at),
    f!("make_timespan", 2, 4, Fixed(T::TimeSpan), f_make_timespan),
    f!("parse_path", 1, 1, Fixed(T::Dynamic), f_parse_path),
    f!("hash_md5", 1, 1, Fixed(T::String), hash::f_hash_md5),
    f!("range", 2, 3, Fixed(T::Dynamic), f_range),
    f!(
        "series_decompose_anomalies",
        1,
        7,
        Fixed(T::Dynamic),
        series::f_series_decompose_anomalies
    ),
    f!(
        "series_fit_line",
        1,
        1,
        Fixed(T::Real),
        series::f_series_fit_line
    ),
    f!("series_stats", 1, 2, Fixed(T::Real), series::f_series_stats),
    f!(
        "series_stats_dynamic",
        1,
        2,
        Fixed(T::Dynamic),
        series::f_series_stats_dynamic
    ),
    f!(
        "series_outliers",
        1,
        5,
        Fixed(T::Dynamic),
        series::f_series_outliers
    ),
    f!(
        "series_fit_line_dynamic",
        1,
        1,
        Fixed(T::Dynamic),
        series::f_series_fit_line_dynamic
    ),
];

/// Functions the binder calls on the query's behalf but that a query cannot name: the parts
/// of a function that returns several columns (`extend (A, B, C) = f(…)`), as one array.
pub static INTERNAL_FUNCTIONS: &[ScalarFn] = &[
    f!(
        "series_decompose_anomalies_parts",
        1,
        7,
        Fixed(T::Dynamic),
        series::f_series_decompose_anomalies_parts
    ),
    f!(
        "series_stats_parts",
        1,
        2,
        Fixed(T::Dynamic),
        series::f_series_stats_parts
    ),
    f!(
        "series_fit_line_parts",
        1,
        1,
        Fixed(T::Dynamic),
        series::f_series_fit_line_parts
    ),
    // `pack_all(true)`: the row's columns as a bag, null and empty values left out.
    f!("pack_nonempty", 0, ANY, Fixed(T::Dynamic), f_pack_nonempty),
];

/// The functions that return several columns: the function's name, the internal function
/// that computes them all as one array, and the suffix of each column's generated name
/// (Kusto names `extend f(x)`'s columns `f_x_suffix`).
pub static MULTI_COLUMN_FUNCTIONS: &[(&str, &str, &[&str])] = &[
    (
        "series_decompose_anomalies",
        "series_decompose_anomalies_parts",
        &["ad_flag", "ad_score", "baseline"],
    ),
    (
        "series_fit_line",
        "series_fit_line_parts",
        &series::FIT_LINE_PARTS,
    ),
    ("series_stats", "series_stats_parts", &series::STATS_PARTS),
];

/// The scalar function named `name` (KQL names are case-sensitive).
pub fn scalar_fn(name: &str) -> Option<&'static ScalarFn> {
    SCALAR_FUNCTIONS.iter().find(|f| f.name == name)
}

/// The function a bound call named `name` runs: the scalar function of that name, else the
/// internal one. Looked up in a table built once, since expressions are evaluated per row.
pub fn callable_fn(name: &str) -> Option<&'static ScalarFn> {
    static BY_NAME: std::sync::OnceLock<rustc_hash::FxHashMap<&'static str, &'static ScalarFn>> =
        std::sync::OnceLock::new();
    BY_NAME
        .get_or_init(|| {
            let mut m = rustc_hash::FxHashMap::default();
            // Scalar functions win over internal ones of the same name.
            for f in INTERNAL_FUNCTIONS.iter().chain(SCALAR_FUNCTIONS) {
                m.insert(f.name, f);
            }
            m
        })
        .get(name)
        .copied()
}

/// An aggregate function: its name, kind and arity.
pub struct AggregateFn {
    /// The name as KQL writes it.
    pub name: &'static str,
    /// Which aggregate.
    pub kind: AggKind,
    /// Fewest arguments.
    pub min_args: usize,
    /// Most arguments.
    pub max_args: usize,
    /// The prefix of the column name Kusto generates (`dcount_` in `dcount_IPAddress`).
    pub prefix: &'static str,
}

macro_rules! a {
    ($name:expr, $kind:ident, $min:expr, $max:expr, $prefix:expr) => {
        AggregateFn {
            name: $name,
            kind: AggKind::$kind,
            min_args: $min,
            max_args: $max,
            prefix: $prefix,
        }
    };
}

/// Every aggregate kqlflow implements, with Kusto's deprecated aliases.
pub static AGGREGATE_FUNCTIONS: &[AggregateFn] = &[
    a!("count", Count, 0, 1, "count_"),
    a!("countif", CountIf, 1, 1, "countif_"),
    a!("dcount", DCount, 1, 2, "dcount_"),
    a!("dcountif", DCountIf, 2, 3, "dcountif_"),
    a!("count_distinct", DCount, 1, 1, "count_distinct_"),
    a!("sum", Sum, 1, 1, "sum_"),
    a!("sumif", SumIf, 2, 2, "sumif_"),
    a!("avg", Avg, 1, 1, "avg_"),
    a!("avgif", AvgIf, 2, 2, "avgif_"),
    a!("min", Min, 1, 1, "min_"),
    a!("max", Max, 1, 1, "max_"),
    a!("minif", MinIf, 2, 2, "minif_"),
    a!("maxif", MaxIf, 2, 2, "maxif_"),
    a!("stdev", Stdev, 1, 1, "stdev_"),
    a!("variance", Variance, 1, 1, "variance_"),
    a!("stdevif", StdevIf, 2, 2, "stdevif_"),
    a!("varianceif", VarianceIf, 2, 2, "varianceif_"),
    a!("make_set", MakeSet, 1, 2, "set_"),
    a!("makeset", MakeSet, 1, 2, "set_"),
    a!("make_set_if", MakeSetIf, 2, 3, "set_"),
    a!("make_list", MakeList, 1, 2, "list_"),
    a!("makelist", MakeList, 1, 2, "list_"),
    a!("make_list_if", MakeListIf, 2, 3, "list_"),
    a!("make_bag", MakeBag, 1, 2, "bag_"),
    a!("arg_max", ArgMax, 2, ANY, ""),
    a!("arg_min", ArgMin, 2, ANY, ""),
    a!("take_any", TakeAny, 1, ANY, ""),
    a!("any", TakeAny, 1, ANY, "any_"),
    a!("percentile", Percentile, 2, 2, "percentile_"),
    a!("percentiles", Percentile, 2, ANY, "percentile_"),
    a!("percentilew", PercentileW, 3, 3, "percentile_"),
    a!("percentilesw", PercentileW, 3, ANY, "percentile_"),
];

/// The aggregate function named `name`.
pub fn aggregate_fn(name: &str) -> Option<&'static AggregateFn> {
    AGGREGATE_FUNCTIONS.iter().find(|f| f.name == name)
}

impl AggregateFn {
    /// The column name Kusto gives `name(arg…)` when the query names none: the prefix and the
    /// first argument's column name (`dcount_IPAddress`, `set_PropertyName`), `count_` for
    /// `count()`, and the prefix alone when the first argument is not a plain column. `arg_max`,
    /// `arg_min` and `take_any` name their columns after the columns they return, which the
    /// planner does.
    pub fn default_column_name(&self, first_arg_column: Option<&str>) -> String {
        match (self.kind, first_arg_column) {
            (AggKind::Count, _) => "count_".to_string(),
            (_, Some(col)) if !self.prefix.is_empty() => format!("{}{col}", self.prefix),
            (_, Some(col)) => col.to_string(),
            _ => self.prefix.to_string(),
        }
    }
}

thread_local! {
    static REGEXES: RefCell<HashMap<String, Option<Regex>>> = RefCell::new(HashMap::new());
}

/// The compiled regular expression for `pattern` (RE2 syntax), cached per thread; `None` when
/// the pattern does not compile.
pub fn regex_cached(pattern: &str) -> Option<Regex> {
    REGEXES.with(|cache| {
        let mut cache = cache.borrow_mut();
        if cache.len() > 4096 {
            cache.clear();
        }
        cache
            .entry(pattern.to_string())
            .or_insert_with(|| Regex::new(pattern).ok())
            .clone()
    })
}

/// Checks a regular expression at compile time: the error message when it does not compile.
pub fn regex_error(pattern: &str) -> Option<String> {
    Regex::new(pattern).err().map(|e| e.to_string())
}
