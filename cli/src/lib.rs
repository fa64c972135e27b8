//! `ds-cli`: the library behind `dsr`, the ds-runtime tool for asset
//! pipelines. The binary (`src/main.rs`) only parses arguments and maps
//! errors to exit codes; everything it does lives here so tests and other
//! tools can call it:
//!
//! - [`codec`]: tile-parallel GDeflate compress / decompress with progress
//!   and Ctrl-C checks between tiles;
//! - [`archive`]: the asset archive format (`docs/archive.md`): writer,
//!   validating reader;
//! - [`assets`]: the deterministic sample asset generator of the demo, the
//!   benchmarks and the tests;
//! - [`commands`]: one function per subcommand;
//! - [`stream`]: archive entries read through the request queue;
//! - [`bench`] and [`demo`]: `dsr bench` and `dsr demo`;
//! - [`output`]: outputs that appear whole or not at all (temporary file in
//!   the destination directory, renamed into place);
//! - [`interrupt`] and [`progress`]: the SIGINT flag and the progress bars;
//! - [`report`]: tables and number formats of the bench and demo reports;
//! - [`error`]: the error enum and its exit codes.

#![forbid(unsafe_code)]

pub mod archive;
pub mod assets;
pub mod bench;
pub mod codec;
pub mod commands;
pub mod demo;
pub mod error;
pub mod interrupt;
pub mod output;
pub mod progress;
pub mod report;
pub mod sha;
pub mod stream;

pub use error::{CliError, ExitStatus};
