//! Integration tests: one binary (one link step), modules by topic.

mod bad_input;
mod campaign;
mod cli;
mod data;
mod export;
mod hash;
mod properties;
mod reference_data;
mod train;
mod util;
