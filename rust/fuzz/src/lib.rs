//! What the fuzz targets share: `cost`, which fails a parse that is not linear in its input.

#![feature(coverage_attribute, linkage)]

pub mod cost;
