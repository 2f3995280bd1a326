//! The KQL syntax tree. Every node carries the [`Span`] of source text it was parsed from.
//!
//! Tabular and scalar expressions share one [`Expr`] type, as in Kusto's own grammar: whether
//! `let x = Foo;` binds a table or a scalar, or whether `f(…)` returns one, is decided by name
//! resolution, not by syntax. A pipeline `source | op | op` is [`ExprKind::Pipe`]; sources that
//! can only be tabular (`union`, `print`, `datatable`, `externaldata`, `range`) have variants
//! of their own.

use super::span::Span;
use crate::model::{Type, Value};

/// A name as written in the query: an identifier, `$left`/`$right`, or a bracketed name such
/// as `['Col Name']` (whose `name` is the text between the quotes).
#[derive(Clone, Debug, PartialEq)]
pub struct Ident {
    /// The name.
    pub name: String,
    /// Where it was written (including brackets and quotes for a bracketed name).
    pub span: Span,
}

/// A whole query: statements separated by `;`.
#[derive(Clone, Debug, PartialEq)]
pub struct Query {
    /// The statements in order.
    pub statements: Vec<Statement>,
    /// The whole text.
    pub span: Span,
}

impl Query {
    /// The `let` statements, in order.
    pub fn lets(&self) -> impl Iterator<Item = &LetStatement> {
        self.statements.iter().filter_map(|s| match s {
            Statement::Let(l) => Some(l),
            Statement::Expr(_) => None,
        })
    }

    /// The last expression statement: the query's result.
    pub fn body(&self) -> Option<&Expr> {
        self.statements.iter().rev().find_map(|s| match s {
            Statement::Expr(e) => Some(e),
            Statement::Let(_) => None,
        })
    }
}

/// One statement.
#[derive(Clone, Debug, PartialEq)]
pub enum Statement {
    /// `let name = …`
    Let(LetStatement),
    /// An expression statement: a tabular expression in a query, or the result of a function
    /// body (which may be scalar).
    Expr(Expr),
}

impl Statement {
    /// The statement's span.
    pub fn span(&self) -> Span {
        match self {
            Statement::Let(l) => l.span,
            Statement::Expr(e) => e.span,
        }
    }
}

/// `let name = value`.
#[derive(Clone, Debug, PartialEq)]
pub struct LetStatement {
    /// The bound name.
    pub name: Ident,
    /// What it is bound to.
    pub value: LetValue,
    /// From `let` to the end of the value.
    pub span: Span,
}

/// What a `let` binds.
#[derive(Clone, Debug, PartialEq)]
pub enum LetValue {
    /// An expression: scalar (`5`, `ago(1h)`, `dynamic([…])`) or tabular (`T | where …`,
    /// `materialize(…)`, a bare table name).
    Expr(Expr),
    /// A user function `(params) { body }` (also written `view (params) { body }`).
    Function(FunctionDef),
}

/// A user-defined function: `(T:(IPAddress:string), n:long = 5) { statements }`.
#[derive(Clone, Debug, PartialEq)]
pub struct FunctionDef {
    /// The parameters in order.
    pub params: Vec<Param>,
    /// The body: `let` statements, then the result expression.
    pub body: Vec<Statement>,
    /// True when written with the `view` keyword.
    pub view: bool,
    /// From the opening `(` (or `view`) to the closing `}`.
    pub span: Span,
}

/// One function parameter.
#[derive(Clone, Debug, PartialEq)]
pub struct Param {
    /// The parameter name.
    pub name: Ident,
    /// Its declared type.
    pub ty: ParamType,
    /// The default value of a scalar parameter (`x:long = 5`).
    pub default: Option<Expr>,
    /// From the name to the end of the default (or type).
    pub span: Span,
}

/// A parameter's declared type.
#[derive(Clone, Debug, PartialEq)]
pub enum ParamType {
    /// A scalar type: `x:string`.
    Scalar(Type),
    /// A table: `T:(IPAddress:string)`; `wildcard` is set for `(*)` or a trailing `*`
    /// (the table may have other columns too).
    Tabular {
        /// The columns the table must have.
        columns: Vec<ColumnDecl>,
        /// True when other columns are allowed (`*`).
        wildcard: bool,
    },
}

/// A column declaration `name:type` (in `datatable`, `externaldata`, tabular parameters).
#[derive(Clone, Debug, PartialEq)]
pub struct ColumnDecl {
    /// The column name.
    pub name: Ident,
    /// The column type.
    pub ty: Type,
    /// From the name to the type.
    pub span: Span,
}

/// A plugin's output schema, `( [*,] Name:type, … )`: the columns a plugin such as
/// `bag_unpack` gives, declared instead of found in the data.
#[derive(Clone, Debug, PartialEq)]
pub struct OutputSchema {
    /// True when it starts with `*`: the input's columns come first.
    pub star: bool,
    /// The declared columns.
    pub columns: Vec<ColumnDecl>,
    /// From `(` to `)`.
    pub span: Span,
}

/// An expression with its span.
#[derive(Clone, Debug, PartialEq)]
pub struct Expr {
    /// What the expression is.
    pub kind: ExprKind,
    /// The source text it covers.
    pub span: Span,
}

/// A literal value and its KQL type (`int(5)` is a [`Type::Int`] holding `Value::Long(5)`;
/// `datetime(null)` is a `Value::Null` of type [`Type::DateTime`]).
#[derive(Clone, Debug, PartialEq)]
pub struct Literal {
    /// The value.
    pub value: Value,
    /// Its type.
    pub ty: Type,
}

/// The kinds of expression.
#[derive(Clone, Debug, PartialEq)]
pub enum ExprKind {
    /// A literal: string, number, bool, datetime, timespan, guid, `dynamic(…)`, null.
    Literal(Literal),
    /// A column, `let` name, table name, `$left` or `$right`.
    Name(Ident),
    /// `*`: in `arg_max(x, *)`, `distinct *`, `count(*)`.
    Star,
    /// `typeof(string)`.
    TypeOf(Type),
    /// `( … )`, kept so that spans and re-printing follow the source.
    Paren(Box<Expr>),
    /// `-x`, `+x`, `not(x)`.
    Unary {
        /// The operator.
        op: UnaryOp,
        /// The operand.
        operand: Box<Expr>,
    },
    /// `lhs op rhs` for arithmetic, comparison and string operators.
    Binary {
        /// The operator.
        op: BinaryOp,
        /// The left operand.
        lhs: Box<Expr>,
        /// The right operand.
        rhs: Box<Expr>,
    },
    /// A chain `a and b and c` or `a or b or c` (flattened: at least two operands).
    Logical {
        /// `and` or `or`.
        op: LogicalOp,
        /// The operands in order.
        operands: Vec<Expr>,
    },
    /// `x between (lo .. hi)` or `x !between (lo .. hi)`.
    Between {
        /// The tested value.
        expr: Box<Expr>,
        /// The lower bound (inclusive).
        low: Box<Expr>,
        /// The upper bound (inclusive).
        high: Box<Expr>,
        /// True for `!between`.
        negated: bool,
    },
    /// `x in (a, b)`, `!in`, `in~`, `!in~`, `has_any`, `has_all` with a list; an item may be a
    /// tabular expression or the name of a `let`-bound array.
    InList {
        /// The tested value.
        expr: Box<Expr>,
        /// Which set operator.
        op: ListOp,
        /// The items (between the parentheses).
        items: Vec<Expr>,
    },
    /// `name(args)`: a scalar function, aggregate, `materialize()`, `toscalar()`, a user
    /// function or a table function such as `_GetWatchlist('x')` or `table(t)`.
    Call {
        /// The function name.
        name: Ident,
        /// The arguments; tabular arguments are expressions too.
        args: Vec<Expr>,
    },
    /// `name = value` as an argument of a call: a named argument, as plugins
    /// (`ipv4_lookup(…, return_unmatched = false)`) and user functions take them.
    NamedArg {
        /// The parameter's name.
        name: Ident,
        /// The value.
        value: Box<Expr>,
    },
    /// `target.name`: a dynamic property (or `$left.Col` in a join).
    Member {
        /// The value accessed.
        target: Box<Expr>,
        /// The property name.
        name: Ident,
    },
    /// `target[index]`, `target['key']` and `target.[index]`.
    Index {
        /// The value accessed.
        target: Box<Expr>,
        /// The index or key.
        index: Box<Expr>,
    },
    /// A pipeline `source | op | …` (at least one operator).
    Pipe {
        /// The input.
        source: Box<Expr>,
        /// The operators applied in order.
        operators: Vec<Operator>,
    },
    /// A `union` at the start of a tabular expression.
    Union(Union),
    /// `print a = 1, b`.
    Print(Vec<NamedExpr>),
    /// `datatable(a:string, b:long) [ 'x', 1, … ]`.
    Datatable {
        /// The columns.
        columns: Vec<ColumnDecl>,
        /// The cell values, row by row.
        values: Vec<Expr>,
    },
    /// `externaldata(cols) [ uris ] with (props)`.
    ExternalData {
        /// The columns.
        columns: Vec<ColumnDecl>,
        /// The storage URIs.
        uris: Vec<Expr>,
        /// The `with (…)` properties.
        properties: Vec<Property>,
    },
    /// `range x from a to b step c`.
    Range {
        /// The column produced.
        column: Ident,
        /// The first value.
        from: Box<Expr>,
        /// The last value (inclusive).
        to: Box<Expr>,
        /// The step.
        step: Box<Expr>,
    },
}

impl Expr {
    /// The pipeline's source and operators when this is a [`ExprKind::Pipe`], looking through
    /// parentheses.
    pub fn as_pipe(&self) -> Option<(&Expr, &[Operator])> {
        match &self.kind {
            ExprKind::Pipe { source, operators } => Some((source, operators)),
            ExprKind::Paren(inner) => inner.as_pipe(),
            _ => None,
        }
    }

    /// The operators of this expression seen as a pipeline: those of a [`ExprKind::Pipe`],
    /// none for anything else.
    pub fn operators(&self) -> &[Operator] {
        self.as_pipe().map_or(&[], |(_, ops)| ops)
    }

    /// The identifier when this is a plain name.
    pub fn as_name(&self) -> Option<&Ident> {
        match &self.kind {
            ExprKind::Name(id) => Some(id),
            _ => None,
        }
    }
}

/// A unary operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum UnaryOp {
    /// `-x`
    Neg,
    /// `+x`
    Plus,
    /// `not(x)`
    Not,
}

/// `and` / `or`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LogicalOp {
    /// `and`
    And,
    /// `or`
    Or,
}

/// The set operators that take a parenthesised list.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ListOp {
    /// `in`
    In,
    /// `!in`
    NotIn,
    /// `in~` (case-insensitive)
    InCi,
    /// `!in~`
    NotInCi,
    /// `has_any`
    HasAny,
    /// `has_all`
    HasAll,
}

impl ListOp {
    /// The operator as written in KQL.
    pub fn as_str(self) -> &'static str {
        match self {
            ListOp::In => "in",
            ListOp::NotIn => "!in",
            ListOp::InCi => "in~",
            ListOp::NotInCi => "!in~",
            ListOp::HasAny => "has_any",
            ListOp::HasAll => "has_all",
        }
    }

    /// The operator written `word`, if any.
    pub fn from_word(word: &str) -> Option<ListOp> {
        Some(match word {
            "in" => ListOp::In,
            "!in" => ListOp::NotIn,
            "in~" => ListOp::InCi,
            "!in~" => ListOp::NotInCi,
            "has_any" => ListOp::HasAny,
            "has_all" => ListOp::HasAll,
            _ => return None,
        })
    }
}

macro_rules! binary_ops {
    ($( $(#[$doc:meta])* $v:ident => $s:literal ),* $(,)?) => {
        /// A binary operator: arithmetic, comparison, or a string operator.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum BinaryOp {
            $( $(#[$doc])* $v, )*
        }

        impl BinaryOp {
            /// Every binary operator.
            pub const ALL: &'static [BinaryOp] = &[$(BinaryOp::$v),*];

            /// The operator as written in KQL.
            pub fn as_str(self) -> &'static str {
                match self {
                    $( BinaryOp::$v => $s, )*
                }
            }
        }
    };
}

binary_ops! {
    /// `+`
    Add => "+",
    /// `-`
    Sub => "-",
    /// `*`
    Mul => "*",
    /// `/`
    Div => "/",
    /// `%`
    Mod => "%",
    /// `==`
    Eq => "==",
    /// `!=` (also `<>`)
    NotEq => "!=",
    /// `<`
    Lt => "<",
    /// `<=`
    Le => "<=",
    /// `>`
    Gt => ">",
    /// `>=`
    Ge => ">=",
    /// `=~`: case-insensitive equality
    EqCi => "=~",
    /// `!~`
    NotEqCi => "!~",
    /// `has`
    Has => "has",
    /// `!has`
    NotHas => "!has",
    /// `has_cs`
    HasCs => "has_cs",
    /// `!has_cs`
    NotHasCs => "!has_cs",
    /// `hasprefix`
    HasPrefix => "hasprefix",
    /// `!hasprefix`
    NotHasPrefix => "!hasprefix",
    /// `hasprefix_cs`
    HasPrefixCs => "hasprefix_cs",
    /// `!hasprefix_cs`
    NotHasPrefixCs => "!hasprefix_cs",
    /// `hassuffix`
    HasSuffix => "hassuffix",
    /// `!hassuffix`
    NotHasSuffix => "!hassuffix",
    /// `hassuffix_cs`
    HasSuffixCs => "hassuffix_cs",
    /// `!hassuffix_cs`
    NotHasSuffixCs => "!hassuffix_cs",
    /// `contains`
    Contains => "contains",
    /// `!contains`
    NotContains => "!contains",
    /// `contains_cs`
    ContainsCs => "contains_cs",
    /// `!contains_cs`
    NotContainsCs => "!contains_cs",
    /// `startswith`
    StartsWith => "startswith",
    /// `!startswith`
    NotStartsWith => "!startswith",
    /// `startswith_cs`
    StartsWithCs => "startswith_cs",
    /// `!startswith_cs`
    NotStartsWithCs => "!startswith_cs",
    /// `endswith`
    EndsWith => "endswith",
    /// `!endswith`
    NotEndsWith => "!endswith",
    /// `endswith_cs`
    EndsWithCs => "endswith_cs",
    /// `!endswith_cs`
    NotEndsWithCs => "!endswith_cs",
    /// `matches regex`
    MatchesRegex => "matches regex",
}

impl BinaryOp {
    /// The string operator written as the single word `word` (`has`, `!contains`, …).
    pub fn from_word(word: &str) -> Option<BinaryOp> {
        use BinaryOp::*;
        Some(match word {
            "has" => Has,
            "!has" => NotHas,
            "has_cs" => HasCs,
            "!has_cs" => NotHasCs,
            "hasprefix" => HasPrefix,
            "!hasprefix" => NotHasPrefix,
            "hasprefix_cs" => HasPrefixCs,
            "!hasprefix_cs" => NotHasPrefixCs,
            "hassuffix" => HasSuffix,
            "!hassuffix" => NotHasSuffix,
            "hassuffix_cs" => HasSuffixCs,
            "!hassuffix_cs" => NotHasSuffixCs,
            "contains" => Contains,
            "!contains" => NotContains,
            "contains_cs" => ContainsCs,
            "!contains_cs" => NotContainsCs,
            // Kusto's older spellings of contains_cs.
            "containscs" => ContainsCs,
            "!containscs" => NotContainsCs,
            "startswith" => StartsWith,
            "!startswith" => NotStartsWith,
            "startswith_cs" => StartsWithCs,
            "!startswith_cs" => NotStartsWithCs,
            "endswith" => EndsWith,
            "!endswith" => NotEndsWith,
            "endswith_cs" => EndsWithCs,
            "!endswith_cs" => NotEndsWithCs,
            _ => return None,
        })
    }

    /// True for the word operators (`has`, `contains`, `startswith`, …, `matches regex`).
    pub fn is_string_op(self) -> bool {
        self.as_str()
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphabetic() || b == b'!')
            && !matches!(self, BinaryOp::NotEq | BinaryOp::NotEqCi)
    }

    /// True for `+ - * / %`.
    pub fn is_arithmetic(self) -> bool {
        matches!(
            self,
            BinaryOp::Add | BinaryOp::Sub | BinaryOp::Mul | BinaryOp::Div | BinaryOp::Mod
        )
    }
}

/// An expression with optional output names: `Name = expr`, `(A, B) = expr`, or just `expr`
/// (the engine then derives the column name, as in `count()` → `count_`).
#[derive(Clone, Debug, PartialEq)]
pub struct NamedExpr {
    /// No names, one name, or several for a tuple assignment `(A, B, C) = f(…)`.
    pub names: Vec<Ident>,
    /// The expression.
    pub expr: Expr,
    /// From the first name (or the expression) to the end of the expression.
    pub span: Span,
}

/// A `name = value` setting: an operator parameter (`kind=inner`, `isfuzzy=true`), a
/// `hint.strategy=shuffle`, or an `externaldata … with (format='csv')` property.
#[derive(Clone, Debug, PartialEq)]
pub struct Property {
    /// The name, as written (`hint.strategy` keeps its dot).
    pub name: Ident,
    /// The value: a literal or a bare word (as a [`ExprKind::Name`]).
    pub value: Expr,
    /// From the name to the value.
    pub span: Span,
}

/// One tabular operator with its span (from the operator name to its last token).
#[derive(Clone, Debug, PartialEq)]
pub struct Operator {
    /// Which operator, with its arguments.
    pub kind: OperatorKind,
    /// The source text (without the leading `|`).
    pub span: Span,
}

impl Operator {
    /// The operator's KQL name (`where`, `project-away`, `mv-expand`, …); synonyms are
    /// reported by one name (`filter` as `where`, `order` as `sort`, `limit` as `take`,
    /// `mvexpand` as `mv-expand`).
    pub fn name(&self) -> &'static str {
        self.kind.name()
    }
}

/// A column name or a wildcard pattern (`_*`, `*1`, `Col*`) in `project-away`,
/// `project-keep`, `project-reorder`.
#[derive(Clone, Debug, PartialEq)]
pub struct ColumnPattern {
    /// The name or pattern, `*` standing for any run of characters.
    pub pattern: String,
    /// Where it was written.
    pub span: Span,
}

impl ColumnPattern {
    /// True when the pattern holds a `*`.
    pub fn is_wildcard(&self) -> bool {
        self.pattern.contains('*')
    }

    /// True when `column` matches the pattern (case-sensitive, `*` matching any run).
    pub fn matches(&self, column: &str) -> bool {
        wildcard_match(&self.pattern, column)
    }
}

/// Glob matching with `*` only, in linear time for a single `*` and O(n·m) worst case.
fn wildcard_match(pattern: &str, text: &str) -> bool {
    let (p, t) = (pattern.as_bytes(), text.as_bytes());
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && p[pi] == b'*' {
            star = Some((pi, ti));
            pi += 1;
        } else if pi < p.len() && p[pi] == t[ti] {
            pi += 1;
            ti += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == b'*')
}

/// `project-rename New = Old`.
#[derive(Clone, Debug, PartialEq)]
pub struct Rename {
    /// The new name.
    pub new: Ident,
    /// The existing column.
    pub old: Ident,
    /// From the new name to the old.
    pub span: Span,
}

/// A sort key in `order by`/`sort by`/`top`: `expr [asc|desc] [nulls first|last]`.
#[derive(Clone, Debug, PartialEq)]
pub struct SortKey {
    /// The sorted expression.
    pub expr: Expr,
    /// `Some(true)` for `desc`, `Some(false)` for `asc`, `None` when not written (Kusto's
    /// default is descending).
    pub descending: Option<bool>,
    /// `Some(true)` for `nulls first`, `Some(false)` for `nulls last`, `None` when not written.
    pub nulls_first: Option<bool>,
    /// The key's text.
    pub span: Span,
}

/// A `project-reorder` item: a pattern and an optional order (`asc`, `desc`, `granny-asc`,
/// `granny-desc`).
#[derive(Clone, Debug, PartialEq)]
pub struct ReorderItem {
    /// The column or pattern.
    pub pattern: ColumnPattern,
    /// The order keyword, if written.
    pub order: Option<String>,
}

/// The kinds of join (Kusto's default is `innerunique`; kqlflow's innerunique keeps, per key,
/// the least left row).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum JoinKind {
    /// `innerunique`
    InnerUnique,
    /// `inner`
    Inner,
    /// `leftouter`
    LeftOuter,
    /// `rightouter`
    RightOuter,
    /// `fullouter`
    FullOuter,
    /// `leftanti` (also `anti`, `leftantisemi`)
    LeftAnti,
    /// `rightanti` (also `rightantisemi`)
    RightAnti,
    /// `leftsemi`
    LeftSemi,
    /// `rightsemi`
    RightSemi,
}

impl JoinKind {
    /// The kind written `word` (`anti` and `leftantisemi` mean `leftanti`, `rightantisemi`
    /// means `rightanti`).
    pub fn from_word(word: &str) -> Option<JoinKind> {
        Some(match word {
            "innerunique" => JoinKind::InnerUnique,
            "inner" => JoinKind::Inner,
            "leftouter" => JoinKind::LeftOuter,
            "rightouter" => JoinKind::RightOuter,
            "fullouter" => JoinKind::FullOuter,
            "leftanti" | "anti" | "leftantisemi" => JoinKind::LeftAnti,
            "rightanti" | "rightantisemi" => JoinKind::RightAnti,
            "leftsemi" => JoinKind::LeftSemi,
            "rightsemi" => JoinKind::RightSemi,
            _ => return None,
        })
    }

    /// The kind's canonical KQL name.
    pub fn as_str(self) -> &'static str {
        match self {
            JoinKind::InnerUnique => "innerunique",
            JoinKind::Inner => "inner",
            JoinKind::LeftOuter => "leftouter",
            JoinKind::RightOuter => "rightouter",
            JoinKind::FullOuter => "fullouter",
            JoinKind::LeftAnti => "leftanti",
            JoinKind::RightAnti => "rightanti",
            JoinKind::LeftSemi => "leftsemi",
            JoinKind::RightSemi => "rightsemi",
        }
    }

    /// True when output rows come from the left side only.
    pub fn left_only(self) -> bool {
        matches!(self, JoinKind::LeftAnti | JoinKind::LeftSemi)
    }

    /// True when output rows come from the right side only.
    pub fn right_only(self) -> bool {
        matches!(self, JoinKind::RightAnti | JoinKind::RightSemi)
    }
}

/// One join (or lookup) condition.
#[derive(Clone, Debug, PartialEq)]
pub enum JoinCondition {
    /// `on Col`: equal values of the same-named column on both sides.
    Column(Ident),
    /// `on $left.A == $right.B`.
    Equal {
        /// The left side's column.
        left: Ident,
        /// The right side's column.
        right: Ident,
        /// The whole condition.
        span: Span,
    },
}

/// `join`: `join kind=K hint.x=y (right) on conditions`.
#[derive(Clone, Debug, PartialEq)]
pub struct Join {
    /// The kind, if written (`kind=…`).
    pub kind: Option<JoinKind>,
    /// The span of the kind's value, if written.
    pub kind_span: Option<Span>,
    /// Hints (`hint.strategy=shuffle`, `hint.remote=auto`, …), kept but not interpreted.
    pub hints: Vec<Property>,
    /// The right side (a parenthesised tabular expression or a name).
    pub right: Box<Expr>,
    /// The conditions after `on`.
    pub on: Vec<JoinCondition>,
}

/// `union [kind=inner|outer] [isfuzzy=true] [withsource=Col] operands`.
#[derive(Clone, Debug, PartialEq)]
pub struct Union {
    /// Parameters and hints (`kind`, `isfuzzy`, `withsource`, `hint.*`) in written order.
    pub params: Vec<Property>,
    /// The operands: names, calls, or parenthesised tabular expressions.
    pub operands: Vec<Expr>,
}

impl Union {
    /// The value of parameter `name`, if written.
    pub fn param(&self, name: &str) -> Option<&Expr> {
        self.params
            .iter()
            .find(|p| p.name.name == name)
            .map(|p| &p.value)
    }
}

/// An `mv-expand` / `mv-apply` item: `[Name =] expr [to typeof(T)]`.
#[derive(Clone, Debug, PartialEq)]
pub struct ExpandItem {
    /// The (optionally named) expanded expression.
    pub target: NamedExpr,
    /// The type after `to typeof(…)`, if written.
    pub to_type: Option<Type>,
    /// The item's text.
    pub span: Span,
}

/// `mv-expand [bagexpansion=…] [with_itemindex=…] items [limit n]`.
#[derive(Clone, Debug, PartialEq)]
pub struct MvExpand {
    /// Parameters (`bagexpansion`, `with_itemindex`, `kind`) in written order.
    pub params: Vec<Property>,
    /// The expanded items.
    pub items: Vec<ExpandItem>,
    /// The row limit, if written.
    pub limit: Option<Expr>,
}

/// `mv-apply [params] items [limit n] on ( operators )`.
#[derive(Clone, Debug, PartialEq)]
pub struct MvApply {
    /// Parameters (`with_itemindex`, `id`, …) in written order.
    pub params: Vec<Property>,
    /// The expanded items.
    pub items: Vec<ExpandItem>,
    /// The row limit, if written.
    pub limit: Option<Expr>,
    /// The subquery applied to each record's expansion: operators without a source.
    pub subquery: Vec<Operator>,
}

/// `summarize [hints] aggregates [by keys]`.
#[derive(Clone, Debug, PartialEq)]
pub struct Summarize {
    /// Hints and parameters (`hint.strategy=shuffle`).
    pub params: Vec<Property>,
    /// The aggregates (possibly none: `summarize by X`).
    pub aggregates: Vec<NamedExpr>,
    /// The group keys.
    pub by: Vec<NamedExpr>,
}

/// A `make-series` aggregate: `[Name =] agg [default = value]`.
#[derive(Clone, Debug, PartialEq)]
pub struct SeriesAggregate {
    /// The aggregate.
    pub agg: NamedExpr,
    /// The value for missing bins.
    pub default: Option<Expr>,
}

/// `make-series aggs on Axis [from a] [to b] step s [by keys]` (also `in range(a, b, s)`).
#[derive(Clone, Debug, PartialEq)]
pub struct MakeSeries {
    /// Parameters (`kind=nonempty`, hints).
    pub params: Vec<Property>,
    /// The aggregates.
    pub aggregates: Vec<SeriesAggregate>,
    /// The axis column.
    pub on: Expr,
    /// The first bin, if written.
    pub from: Option<Expr>,
    /// The end of the range, if written.
    pub to: Option<Expr>,
    /// The bin size.
    pub step: Expr,
    /// True for the form `in range(start, stop, step)` (`to` then holds the inclusive stop).
    pub range: bool,
    /// The group keys.
    pub by: Vec<NamedExpr>,
}

/// One element of a `parse … with` pattern.
#[derive(Clone, Debug, PartialEq)]
pub enum ParsePart {
    /// `*`: skip any text.
    Star(Span),
    /// A string that must appear.
    Text(String, Span),
    /// A column to extract: `Name` or `Name:type`.
    Column {
        /// The new column.
        name: Ident,
        /// Its type (string when absent).
        ty: Option<Type>,
    },
}

/// `parse [kind=…] expr with pattern`.
#[derive(Clone, Debug, PartialEq)]
pub struct Parse {
    /// Parameters (`kind=regex|simple|relaxed`, `flags=…`).
    pub params: Vec<Property>,
    /// The parsed text.
    pub expr: Expr,
    /// The pattern.
    pub pattern: Vec<ParsePart>,
}

/// `top n by key`.
#[derive(Clone, Debug, PartialEq)]
pub struct Top {
    /// How many rows.
    pub count: Expr,
    /// The sort key.
    pub by: SortKey,
}

/// The tabular operators. (Large payloads are boxed, which keeps the type small.)
#[derive(Clone, Debug, PartialEq)]
pub enum OperatorKind {
    /// `where` / `filter`.
    Where(Expr),
    /// `extend`.
    Extend(Vec<NamedExpr>),
    /// `project`.
    Project(Vec<NamedExpr>),
    /// `project-away`.
    ProjectAway(Vec<ColumnPattern>),
    /// `project-keep`.
    ProjectKeep(Vec<ColumnPattern>),
    /// `project-rename`.
    ProjectRename(Vec<Rename>),
    /// `project-reorder`.
    ProjectReorder(Vec<ReorderItem>),
    /// `summarize`.
    Summarize(Summarize),
    /// `join`.
    Join(Join),
    /// `lookup` (its `kind` is `leftouter` or `inner`).
    Lookup(Join),
    /// `union` after a pipe.
    Union(Union),
    /// `mv-expand` / `mvexpand`.
    MvExpand(Box<MvExpand>),
    /// `mv-apply`.
    MvApply(Box<MvApply>),
    /// `order by` / `sort by`.
    Sort(Vec<SortKey>),
    /// `top n by key`.
    Top(Box<Top>),
    /// `take n` / `limit n`.
    Take(Expr),
    /// `distinct cols` (or `distinct *`).
    Distinct(Vec<Expr>),
    /// `count`.
    Count,
    /// `parse`.
    Parse(Box<Parse>),
    /// `make-series`.
    MakeSeries(Box<MakeSeries>),
    /// `as [hints] Name`.
    As {
        /// Hints such as `hint.materialized=true`.
        params: Vec<Property>,
        /// The name given to the input.
        name: Ident,
    },
    /// `evaluate [hints] plugin(args) [: (OutputSchema)]`.
    Evaluate {
        /// Hints.
        params: Vec<Property>,
        /// The plugin call (an [`ExprKind::Call`]).
        call: Box<Expr>,
        /// The output schema written after the call, if any (`: (*, Name:string)`).
        output: Option<OutputSchema>,
    },
    /// `getschema`.
    GetSchema,
    /// `render …`: a chart, which kqlflow ignores (it produces rows).
    Render,
    /// `serialize [Name = expr, …]`.
    Serialize(Vec<NamedExpr>),
    /// `invoke f(args)`: calls a function with the input table as its first argument.
    Invoke(Expr),
}

impl OperatorKind {
    /// The operator's KQL name.
    pub fn name(&self) -> &'static str {
        match self {
            OperatorKind::Where(_) => "where",
            OperatorKind::Extend(_) => "extend",
            OperatorKind::Project(_) => "project",
            OperatorKind::ProjectAway(_) => "project-away",
            OperatorKind::ProjectKeep(_) => "project-keep",
            OperatorKind::ProjectRename(_) => "project-rename",
            OperatorKind::ProjectReorder(_) => "project-reorder",
            OperatorKind::Summarize(_) => "summarize",
            OperatorKind::Join(_) => "join",
            OperatorKind::Lookup(_) => "lookup",
            OperatorKind::Union(_) => "union",
            OperatorKind::MvExpand(_) => "mv-expand",
            OperatorKind::MvApply(_) => "mv-apply",
            OperatorKind::Sort(_) => "sort",
            OperatorKind::Top(_) => "top",
            OperatorKind::Take(_) => "take",
            OperatorKind::Distinct(_) => "distinct",
            OperatorKind::Count => "count",
            OperatorKind::Parse(_) => "parse",
            OperatorKind::MakeSeries(_) => "make-series",
            OperatorKind::As { .. } => "as",
            OperatorKind::Evaluate { .. } => "evaluate",
            OperatorKind::GetSchema => "getschema",
            OperatorKind::Render => "render",
            OperatorKind::Serialize(_) => "serialize",
            OperatorKind::Invoke(_) => "invoke",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards() {
        let p = |s: &str| ColumnPattern {
            pattern: s.into(),
            span: Span::default(),
        };
        assert!(p("_*").matches("_anyInRange"));
        assert!(!p("_*").matches("x_"));
        assert!(p("*1").matches("IPAddress1"));
        assert!(!p("*1").matches("IPAddress"));
        assert!(p("a*b*c").matches("aXXbYYc"));
        assert!(!p("a*b*c").matches("aXXbYY"));
        assert!(p("Col").matches("Col") && !p("Col").matches("Col2"));
        assert!(p("*").matches(""));
    }

    #[test]
    fn every_word_operator_round_trips() {
        for &op in BinaryOp::ALL {
            let spelled = BinaryOp::from_word(op.as_str());
            if op.is_string_op() && op != BinaryOp::MatchesRegex {
                assert_eq!(spelled, Some(op), "{}", op.as_str());
            } else {
                assert_eq!(spelled, None, "{}", op.as_str());
            }
        }
    }

    #[test]
    fn operator_words() {
        assert_eq!(BinaryOp::from_word("has"), Some(BinaryOp::Has));
        assert_eq!(
            BinaryOp::from_word("!startswith_cs"),
            Some(BinaryOp::NotStartsWithCs)
        );
        assert_eq!(BinaryOp::from_word("matches"), None);
        assert_eq!(BinaryOp::from_word("=="), None);
        assert_eq!(BinaryOp::from_word("like"), None);
        assert!(!BinaryOp::NotEq.is_string_op());
        assert!(BinaryOp::MatchesRegex.is_string_op());
        assert_eq!(ListOp::from_word("!in~"), Some(ListOp::NotInCi));
        assert_eq!(JoinKind::from_word("anti"), Some(JoinKind::LeftAnti));
        assert_eq!(JoinKind::from_word("outer"), None);
    }
}
