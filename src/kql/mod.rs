//! The KQL front end: lexer, parser, AST with source spans, and diagnostics.
//!
//! Not built yet.
