//! Sentinel analytic-rule YAML files. Not built yet.
