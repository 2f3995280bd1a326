//! KQL's operators over [`Value`]s: arithmetic, comparison, logic, and the string, set and range
//! operators. Nulls propagate (a comparison with null is null, which `where` treats as false);
//! `and`/`or` use three-valued logic.

use std::cmp::Ordering;

use crate::model::{Value, tostring};

/// A binary operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum BinOp {
    /// `+`
    Add,
    /// `-`
    Sub,
    /// `*`
    Mul,
    /// `/`
    Div,
    /// `%`
    Mod,
    /// `==`
    Eq,
    /// `!=` (also `<>`)
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `and`
    And,
    /// `or`
    Or,
    /// `=~`: equal ignoring case.
    EqTilde,
    /// `!~`
    NeTilde,
    /// `contains`: substring, ignoring case.
    Contains,
    /// `!contains`
    NotContains,
    /// `contains_cs`
    ContainsCs,
    /// `!contains_cs`
    NotContainsCs,
    /// `startswith`, ignoring case.
    StartsWith,
    /// `!startswith`
    NotStartsWith,
    /// `startswith_cs`
    StartsWithCs,
    /// `endswith`, ignoring case.
    EndsWith,
    /// `!endswith`
    NotEndsWith,
    /// `endswith_cs`
    EndsWithCs,
    /// `has`: a whole term, ignoring case.
    Has,
    /// `!has`
    NotHas,
    /// `has_cs`
    HasCs,
    /// `!has_cs`
    NotHasCs,
    /// `hasprefix`: a term that starts with the right side, ignoring case.
    HasPrefix,
    /// `!hasprefix`
    NotHasPrefix,
    /// `hassuffix`
    HasSuffix,
    /// `!hassuffix`
    NotHasSuffix,
    /// `matches regex` (RE2 syntax, linear time).
    MatchesRegex,
}

impl BinOp {
    /// The operator's KQL spelling.
    pub fn symbol(self) -> &'static str {
        use BinOp::*;
        match self {
            Add => "+",
            Sub => "-",
            Mul => "*",
            Div => "/",
            Mod => "%",
            Eq => "==",
            Ne => "!=",
            Lt => "<",
            Le => "<=",
            Gt => ">",
            Ge => ">=",
            And => "and",
            Or => "or",
            EqTilde => "=~",
            NeTilde => "!~",
            Contains => "contains",
            NotContains => "!contains",
            ContainsCs => "contains_cs",
            NotContainsCs => "!contains_cs",
            StartsWith => "startswith",
            NotStartsWith => "!startswith",
            StartsWithCs => "startswith_cs",
            EndsWith => "endswith",
            NotEndsWith => "!endswith",
            EndsWithCs => "endswith_cs",
            Has => "has",
            NotHas => "!has",
            HasCs => "has_cs",
            NotHasCs => "!has_cs",
            HasPrefix => "hasprefix",
            NotHasPrefix => "!hasprefix",
            HasSuffix => "hassuffix",
            NotHasSuffix => "!hassuffix",
            MatchesRegex => "matches regex",
        }
    }

    /// The operator spelled `s` (case-sensitive, as KQL is), if any.
    pub fn from_symbol(s: &str) -> Option<BinOp> {
        use BinOp::*;
        const ALL: [BinOp; 34] = [
            Add,
            Sub,
            Mul,
            Div,
            Mod,
            Eq,
            Ne,
            Lt,
            Le,
            Gt,
            Ge,
            And,
            Or,
            EqTilde,
            NeTilde,
            Contains,
            NotContains,
            ContainsCs,
            NotContainsCs,
            StartsWith,
            NotStartsWith,
            StartsWithCs,
            EndsWith,
            NotEndsWith,
            EndsWithCs,
            Has,
            NotHas,
            HasCs,
            NotHasCs,
            HasPrefix,
            NotHasPrefix,
            HasSuffix,
            NotHasSuffix,
            MatchesRegex,
        ];
        if s == "<>" {
            return Some(Ne);
        }
        ALL.into_iter().find(|op| op.symbol() == s)
    }

    /// True for the operators whose result is a bool.
    pub fn is_predicate(self) -> bool {
        !matches!(
            self,
            BinOp::Add | BinOp::Sub | BinOp::Mul | BinOp::Div | BinOp::Mod
        )
    }
}

/// Applies a binary operator.
pub fn binary(op: BinOp, a: &Value, b: &Value) -> Value {
    use BinOp::*;
    match op {
        Add | Sub | Mul | Div | Mod => arith(op, a, b),
        Eq => compare(a, b).map_or(Value::Null, |o| Value::Bool(o == Ordering::Equal)),
        Ne => compare(a, b).map_or(Value::Null, |o| Value::Bool(o != Ordering::Equal)),
        Lt => compare(a, b).map_or(Value::Null, |o| Value::Bool(o == Ordering::Less)),
        Le => compare(a, b).map_or(Value::Null, |o| Value::Bool(o != Ordering::Greater)),
        Gt => compare(a, b).map_or(Value::Null, |o| Value::Bool(o == Ordering::Greater)),
        Ge => compare(a, b).map_or(Value::Null, |o| Value::Bool(o != Ordering::Less)),
        And => and(a, b),
        Or => or(a, b),
        _ => string_op(op, a, b),
    }
}

/// The text a string operator sees for a value: strings as they are, anything else as
/// `tostring` prints it.
pub fn text_of(v: &Value) -> std::borrow::Cow<'_, str> {
    match v {
        Value::String(s) => std::borrow::Cow::Borrowed(s.as_ref()),
        other => match tostring(other) {
            Value::String(s) => std::borrow::Cow::Owned(s.to_string()),
            _ => std::borrow::Cow::Borrowed(""),
        },
    }
}

fn string_op(op: BinOp, a: &Value, b: &Value) -> Value {
    use BinOp::*;
    let l = text_of(a);
    let r = text_of(b);
    let (l, r) = (l.as_ref(), r.as_ref());
    let result = match op {
        EqTilde => eq_ignore_case(l, r),
        NeTilde => !eq_ignore_case(l, r),
        Contains => contains_ignore_case(l, r),
        NotContains => !contains_ignore_case(l, r),
        ContainsCs => l.contains(r),
        NotContainsCs => !l.contains(r),
        StartsWith => starts_with_ignore_case(l, r),
        NotStartsWith => !starts_with_ignore_case(l, r),
        StartsWithCs => l.starts_with(r),
        EndsWith => ends_with_ignore_case(l, r),
        NotEndsWith => !ends_with_ignore_case(l, r),
        EndsWithCs => l.ends_with(r),
        Has => has(l, r, false, Term::Whole),
        NotHas => !has(l, r, false, Term::Whole),
        HasCs => has(l, r, true, Term::Whole),
        NotHasCs => !has(l, r, true, Term::Whole),
        HasPrefix => has(l, r, false, Term::Prefix),
        NotHasPrefix => !has(l, r, false, Term::Prefix),
        HasSuffix => has(l, r, false, Term::Suffix),
        NotHasSuffix => !has(l, r, false, Term::Suffix),
        MatchesRegex => match super::regex_cached(r) {
            Some(re) => re.is_match(l),
            None => return Value::Null,
        },
        _ => return Value::Null,
    };
    Value::Bool(result)
}

/// Equality ignoring case (Unicode simple case folding by lowercasing).
pub fn eq_ignore_case(a: &str, b: &str) -> bool {
    if a.is_ascii() && b.is_ascii() {
        a.eq_ignore_ascii_case(b)
    } else {
        a.to_lowercase() == b.to_lowercase()
    }
}

fn contains_ignore_case(l: &str, r: &str) -> bool {
    if r.is_empty() {
        return true;
    }
    if l.is_ascii() && r.is_ascii() {
        let (lb, rb) = (l.as_bytes(), r.as_bytes());
        lb.windows(rb.len()).any(|w| w.eq_ignore_ascii_case(rb))
    } else {
        l.to_lowercase().contains(&r.to_lowercase())
    }
}

fn starts_with_ignore_case(l: &str, r: &str) -> bool {
    if l.is_ascii() && r.is_ascii() {
        l.len() >= r.len() && l.as_bytes()[..r.len()].eq_ignore_ascii_case(r.as_bytes())
    } else {
        l.to_lowercase().starts_with(&r.to_lowercase())
    }
}

fn ends_with_ignore_case(l: &str, r: &str) -> bool {
    if l.is_ascii() && r.is_ascii() {
        l.len() >= r.len() && l.as_bytes()[l.len() - r.len()..].eq_ignore_ascii_case(r.as_bytes())
    } else {
        l.to_lowercase().ends_with(&r.to_lowercase())
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Term {
    Whole,
    Prefix,
    Suffix,
}

fn is_term_char(c: char) -> bool {
    c.is_alphanumeric()
}

/// Kusto's term match: `r` occurs in `l` where it is not glued to further alphanumeric
/// characters (a term is a maximal run of alphanumerics). With `Prefix`, the match may continue
/// into a longer term after it; with `Suffix`, before it. An empty `r` matches everything.
fn has(l: &str, r: &str, case_sensitive: bool, mode: Term) -> bool {
    if r.is_empty() {
        return true;
    }
    let (l, r) = if case_sensitive {
        (l.to_string(), r.to_string())
    } else {
        (l.to_lowercase(), r.to_lowercase())
    };
    let starts_term = r.chars().next().is_some_and(is_term_char);
    let ends_term = r.chars().last().is_some_and(is_term_char);
    let mut from = 0;
    while let Some(pos) = l[from..].find(&r) {
        let start = from + pos;
        let end = start + r.len();
        let before_ok = !starts_term
            || mode == Term::Suffix
            || l[..start]
                .chars()
                .next_back()
                .is_none_or(|c| !is_term_char(c));
        let after_ok = !ends_term
            || mode == Term::Prefix
            || l[end..].chars().next().is_none_or(|c| !is_term_char(c));
        if before_ok && after_ok {
            return true;
        }
        from = start + l[start..].chars().next().map_or(1, char::len_utf8);
    }
    false
}

/// `and` with three-valued logic: false wins over null.
pub fn and(a: &Value, b: &Value) -> Value {
    match (truth(a), truth(b)) {
        (Some(false), _) | (_, Some(false)) => Value::Bool(false),
        (Some(true), Some(true)) => Value::Bool(true),
        _ => Value::Null,
    }
}

/// `or` with three-valued logic: true wins over null.
pub fn or(a: &Value, b: &Value) -> Value {
    match (truth(a), truth(b)) {
        (Some(true), _) | (_, Some(true)) => Value::Bool(true),
        (Some(false), Some(false)) => Value::Bool(false),
        _ => Value::Null,
    }
}

/// `not(x)`.
pub fn not(a: &Value) -> Value {
    truth(a).map_or(Value::Null, |b| Value::Bool(!b))
}

/// The truth of a value as a predicate: bools as they are, null unknown; numbers non-zero;
/// strings `"true"`/`"false"` (as Kusto converts them).
pub fn truth(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::Long(x) => Some(*x != 0),
        Value::Real(x) => Some(*x != 0.0),
        Value::String(s) if s.eq_ignore_ascii_case("true") => Some(true),
        Value::String(s) if s.eq_ignore_ascii_case("false") => Some(false),
        _ => None,
    }
}

/// True when a `where` keeps a row whose predicate is `v`: only a true value does.
pub fn is_true(v: &Value) -> bool {
    truth(v) == Some(true)
}

fn as_f64(v: &Value) -> Option<f64> {
    match v {
        Value::Long(x) => Some(*x as f64),
        Value::Real(x) => Some(*x),
        _ => None,
    }
}

/// Compares two values as KQL's comparison operators do: numbers numerically (long with
/// real), strings case-sensitively, datetimes, timespans and bools in their order; a string
/// with a number by the string's numeric value when it has one (so `ResultType == 0` works on
/// the string column `ResultType`), else as text; dynamic arrays and bags by their JSON text.
/// `None` when either side is null or the two cannot be compared.
pub fn compare(a: &Value, b: &Value) -> Option<Ordering> {
    use Value::*;
    match (a, b) {
        (Null, _) | (_, Null) => None,
        (Long(x), Long(y)) => Some(x.cmp(y)),
        (Long(_) | Real(_), Long(_) | Real(_)) => as_f64(a)?.partial_cmp(&as_f64(b)?),
        (String(x), String(y)) => Some(x.as_ref().cmp(y.as_ref())),
        (DateTime(x), DateTime(y)) | (TimeSpan(x), TimeSpan(y)) => Some(x.cmp(y)),
        (Bool(x), Bool(y)) => Some(x.cmp(y)),
        (String(s), Long(_) | Real(_)) => compare_text_number(s, b),
        (Long(_) | Real(_), String(s)) => compare_text_number(s, a).map(Ordering::reverse),
        (String(s), DateTime(t)) => crate::model::parse_datetime(s).map(|x| x.cmp(t)),
        (DateTime(t), String(s)) => crate::model::parse_datetime(s).map(|x| t.cmp(&x)),
        (String(s), Bool(x)) => truth(&String(s.clone())).map(|y| y.cmp(x)),
        (Bool(x), String(s)) => truth(&String(s.clone())).map(|y| x.cmp(&y)),
        (Array(_) | Object(_), _) | (_, Array(_) | Object(_)) => {
            Some(text_of(a).as_ref().cmp(text_of(b).as_ref()))
        }
        _ => None,
    }
}

fn compare_text_number(s: &str, n: &Value) -> Option<Ordering> {
    let t = s.trim();
    if let (Ok(x), Value::Long(y)) = (t.parse::<i64>(), n) {
        return Some(x.cmp(y));
    }
    match t.parse::<f64>() {
        Ok(x) => x.partial_cmp(&as_f64(n)?),
        Err(_) => Some(s.cmp(text_of(n).as_ref())),
    }
}

/// Arithmetic: long with long stays long (division truncates; division or remainder by zero
/// is null; overflow is null), with a real gives a real; datetime − datetime is a timespan,
/// datetime ± timespan a datetime, timespan ± timespan a timespan, timespan × or ÷ a number a
/// timespan, timespan ÷ timespan a real. Any other mix, or a null, is null.
pub fn arith(op: BinOp, a: &Value, b: &Value) -> Value {
    use BinOp::*;
    use Value::*;
    match (a, b) {
        (Long(x), Long(y)) => {
            let (x, y) = (*x, *y);
            let r = match op {
                Add => x.checked_add(y),
                Sub => x.checked_sub(y),
                Mul => x.checked_mul(y),
                Div => x.checked_div(y),
                Mod => x.checked_rem(y),
                _ => None,
            };
            r.map_or(Null, Long)
        }
        (Long(_) | Real(_), Long(_) | Real(_)) => {
            let (Some(x), Some(y)) = (as_f64(a), as_f64(b)) else {
                return Null;
            };
            let r = match op {
                Add => x + y,
                Sub => x - y,
                Mul => x * y,
                Div => x / y,
                Mod => x % y,
                _ => return Null,
            };
            Real(r)
        }
        (DateTime(x), DateTime(y)) if op == Sub => x.checked_sub(*y).map_or(Null, TimeSpan),
        (DateTime(x), TimeSpan(y)) => match op {
            Add => x.checked_add(*y).map_or(Null, DateTime),
            Sub => x.checked_sub(*y).map_or(Null, DateTime),
            _ => Null,
        },
        (TimeSpan(x), DateTime(y)) if op == Add => x.checked_add(*y).map_or(Null, DateTime),
        (TimeSpan(x), TimeSpan(y)) => match op {
            Add => x.checked_add(*y).map_or(Null, TimeSpan),
            Sub => x.checked_sub(*y).map_or(Null, TimeSpan),
            Div if *y != 0 => Real(*x as f64 / *y as f64),
            Mod if *y != 0 => TimeSpan(x % y),
            _ => Null,
        },
        (TimeSpan(x), Long(_) | Real(_)) => {
            let Some(y) = as_f64(b) else { return Null };
            let r = match op {
                Mul => *x as f64 * y,
                Div if y != 0.0 => *x as f64 / y,
                _ => return Null,
            };
            span_of(r)
        }
        (Long(_) | Real(_), TimeSpan(y)) if op == Mul => {
            let Some(x) = as_f64(a) else { return Null };
            span_of(x * *y as f64)
        }
        _ => Null,
    }
}

fn span_of(ticks: f64) -> Value {
    if ticks.is_finite() && ticks.abs() < i64::MAX as f64 {
        Value::TimeSpan(ticks.round() as i64)
    } else {
        Value::Null
    }
}

/// Unary minus.
pub fn negate(a: &Value) -> Value {
    match a {
        Value::Long(x) => x.checked_neg().map_or(Value::Null, Value::Long),
        Value::Real(x) => Value::Real(-x),
        Value::TimeSpan(x) => x.checked_neg().map_or(Value::Null, Value::TimeSpan),
        _ => Value::Null,
    }
}

/// The elements an `in` list contributes: a dynamic array contributes its elements, anything
/// else itself.
fn flatten<'a>(items: &'a [Value], out: &mut Vec<&'a Value>) {
    for v in items {
        match v {
            Value::Array(xs) => flatten(xs, out),
            other => out.push(other),
        }
    }
}

/// `x in (list)`: equal (case-sensitively, as `==`) to an element; `in~` ignores case.
pub fn in_list(x: &Value, list: &[Value], ignore_case: bool) -> Value {
    if x.is_null() {
        return Value::Null;
    }
    let mut items = Vec::new();
    flatten(list, &mut items);
    let found = items.iter().any(|item| {
        if ignore_case {
            eq_ignore_case(&text_of(x), &text_of(item))
        } else {
            compare(x, item) == Some(Ordering::Equal)
        }
    });
    Value::Bool(found)
}

/// `has_any(list)`: `has` for any element; `has_all`: for every element.
pub fn has_any(x: &Value, list: &[Value], all: bool) -> Value {
    let mut items = Vec::new();
    flatten(list, &mut items);
    let l = text_of(x);
    let test = |item: &&Value| has(&l, &text_of(item), false, Term::Whole);
    Value::Bool(if all {
        items.iter().all(test)
    } else {
        items.iter().any(test)
    })
}

/// `x between (lo .. hi)`: inclusive on both ends.
pub fn between(x: &Value, lo: &Value, hi: &Value) -> Value {
    match (compare(x, lo), compare(x, hi)) {
        (Some(a), Some(b)) => Value::Bool(a != Ordering::Less && b != Ordering::Greater),
        _ => Value::Null,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{TICKS_PER_DAY, TICKS_PER_HOUR};

    fn s(x: &str) -> Value {
        Value::str(x)
    }
    fn b(op: BinOp, l: Value, r: Value) -> Value {
        binary(op, &l, &r)
    }

    #[test]
    fn string_operators_follow_kusto_examples() {
        // Examples from Kusto's string operators table, each true.
        assert_eq!(b(BinOp::Eq, s("aBc"), s("aBc")), Value::Bool(true));
        assert_eq!(b(BinOp::Ne, s("abc"), s("ABC")), Value::Bool(true));
        assert_eq!(b(BinOp::EqTilde, s("abc"), s("ABC")), Value::Bool(true));
        assert_eq!(b(BinOp::NeTilde, s("aBc"), s("xyz")), Value::Bool(true));
        assert_eq!(
            b(BinOp::Contains, s("FabriKam"), s("BRik")),
            Value::Bool(true)
        );
        assert_eq!(
            b(BinOp::NotContains, s("Fabrikam"), s("xyz")),
            Value::Bool(true)
        );
        assert_eq!(
            b(BinOp::ContainsCs, s("FabriKam"), s("riK")),
            Value::Bool(true)
        );
        assert_eq!(
            b(BinOp::NotContainsCs, s("Fabrikam"), s("riK")),
            Value::Bool(true)
        );
        assert_eq!(
            b(BinOp::EndsWith, s("Fabrikam"), s("Kam")),
            Value::Bool(true)
        );
        assert_eq!(
            b(BinOp::EndsWithCs, s("Fabrikam"), s("kam")),
            Value::Bool(true)
        );
        assert_eq!(
            b(BinOp::Has, s("North America"), s("america")),
            Value::Bool(true)
        );
        assert_eq!(
            b(BinOp::NotHas, s("North America"), s("amer")),
            Value::Bool(true)
        );
        assert_eq!(
            b(BinOp::HasCs, s("North America"), s("America")),
            Value::Bool(true)
        );
        assert_eq!(
            b(BinOp::HasPrefix, s("North America"), s("ame")),
            Value::Bool(true)
        );
        assert_eq!(
            b(BinOp::HasSuffix, s("North America"), s("ica")),
            Value::Bool(true)
        );
        assert_eq!(
            b(BinOp::StartsWith, s("Fabrikam"), s("fab")),
            Value::Bool(true)
        );
        assert_eq!(
            b(BinOp::StartsWithCs, s("Fabrikam"), s("Fab")),
            Value::Bool(true)
        );
        assert_eq!(
            b(BinOp::MatchesRegex, s("Fabrikam"), s("b.*k")),
            Value::Bool(true)
        );
        // "KustoExplorerQueryRun" has "Explorer" is false: terms are whole.
        assert_eq!(
            b(BinOp::Has, s("KustoExplorerQueryRun"), s("Explorer")),
            Value::Bool(false)
        );
        assert_eq!(
            b(BinOp::Contains, s("KustoExplorerQueryRun"), s("Explorer")),
            Value::Bool(true)
        );
        assert_eq!(b(BinOp::Has, s("10.0.0.0/8"), s("/")), Value::Bool(true));
        assert_eq!(b(BinOp::Has, s("a-b c"), s("b c")), Value::Bool(true));
        assert_eq!(b(BinOp::MatchesRegex, s("x"), s("(")), Value::Null);
    }

    #[test]
    fn comparisons_and_nulls() {
        assert_eq!(
            b(BinOp::Lt, Value::Long(1), Value::Real(1.5)),
            Value::Bool(true)
        );
        assert_eq!(b(BinOp::Eq, Value::Null, Value::Long(1)), Value::Null);
        // ResultType is a string compared with numbers in rules.
        assert_eq!(b(BinOp::Eq, s("0"), Value::Long(0)), Value::Bool(true));
        assert_eq!(b(BinOp::Ne, s("50126"), Value::Long(0)), Value::Bool(true));
        assert_eq!(
            b(BinOp::Eq, s("Success"), Value::Long(0)),
            Value::Bool(false)
        );
        assert_eq!(
            in_list(
                &s("50126"),
                &[Value::Long(50053), Value::Long(50126)],
                false
            ),
            Value::Bool(true)
        );
        assert_eq!(
            in_list(&s("A"), &[Value::array(vec![s("a"), s("b")])], true),
            Value::Bool(true)
        );
        assert_eq!(in_list(&s("A"), &[s("a")], false), Value::Bool(false));
        assert_eq!(
            between(&Value::Long(5), &Value::Long(1), &Value::Long(5)),
            Value::Bool(true)
        );
        assert_eq!(
            has_any(&s("Run Command"), &[s("command"), s("x")], false),
            Value::Bool(true)
        );
        assert_eq!(
            has_any(&s("Run Command"), &[s("command"), s("x")], true),
            Value::Bool(false)
        );
    }

    #[test]
    fn three_valued_logic() {
        let t = Value::Bool(true);
        let f = Value::Bool(false);
        assert_eq!(and(&Value::Null, &f), f);
        assert_eq!(and(&Value::Null, &t), Value::Null);
        assert_eq!(or(&Value::Null, &t), t);
        assert_eq!(or(&Value::Null, &f), Value::Null);
        assert_eq!(not(&Value::Null), Value::Null);
        assert!(!is_true(&Value::Null));
    }

    #[test]
    fn arithmetic_on_times() {
        let d = Value::DateTime(10 * TICKS_PER_DAY);
        let h = Value::TimeSpan(TICKS_PER_HOUR);
        assert_eq!(
            b(BinOp::Sub, d.clone(), h.clone()),
            Value::DateTime(10 * TICKS_PER_DAY - TICKS_PER_HOUR)
        );
        assert_eq!(
            b(BinOp::Sub, d.clone(), Value::DateTime(9 * TICKS_PER_DAY)),
            Value::TimeSpan(TICKS_PER_DAY)
        );
        assert_eq!(
            b(BinOp::Mul, Value::TimeSpan(TICKS_PER_DAY), Value::Long(7)),
            Value::TimeSpan(7 * TICKS_PER_DAY)
        );
        assert_eq!(
            b(BinOp::Div, Value::TimeSpan(TICKS_PER_DAY), h),
            Value::Real(24.0)
        );
        assert_eq!(
            b(BinOp::Div, Value::Long(7), Value::Long(2)),
            Value::Long(3)
        );
        assert_eq!(b(BinOp::Div, Value::Long(7), Value::Long(0)), Value::Null);
        assert_eq!(
            b(BinOp::Div, Value::Long(7), Value::Real(2.0)),
            Value::Real(3.5)
        );
        assert_eq!(
            b(BinOp::Add, Value::Long(i64::MAX), Value::Long(1)),
            Value::Null
        );
        assert_eq!(b(BinOp::Add, s("a"), s("b")), Value::Null);
        assert_eq!(BinOp::from_symbol("!has"), Some(BinOp::NotHas));
        assert_eq!(BinOp::from_symbol("<>"), Some(BinOp::Ne));
    }
}
