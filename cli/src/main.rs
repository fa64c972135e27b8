//! `dsr`: the ds-runtime command-line tool. Argument parsing (clap derive)
//! and exit codes only; the work is done by the `ds_cli` library.

#![forbid(unsafe_code)]

use clap::{Args, Parser, Subcommand};
use ds_cli::{bench, commands, demo, interrupt, sha, CliError, ExitStatus};
use std::path::PathBuf;
use std::process::ExitCode;

const EXIT_CODES: &str = "\
Exit codes:
  0    success
  1    failure: I/O error, corrupt or invalid input (the message names the
       file, archive entry, tile and offset), GPU or queue error
  2    usage error (bad arguments)
  3    verification mismatch: data decoded but its SHA-256 differs
  130  interrupted (Ctrl-C / SIGINT, SIGTERM); no partial output is left

Outputs are written to a temporary file (or directory) beside the
destination and renamed into place when complete. `-` is stdin / stdout.";

/// dsr: GDeflate streams and asset archives for ds-runtime.
#[derive(Debug, Parser)]
#[command(name = "dsr", version, after_help = EXIT_CODES)]
struct Cli {
    /// Worker threads for tile-parallel work (0 = all cores).
    #[arg(short = 'j', long, global = true, default_value_t = 0)]
    threads: usize,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Compress a file into a GDeflate tile stream (tiles in parallel).
    Compress {
        /// Compression level, 0 (stored) to 12; 9 is DirectStorage's default.
        #[arg(short, long, default_value_t = 9, value_parser = clap::value_parser!(u8).range(0..=12))]
        level: u8,
        /// Input file, or - for stdin.
        input: PathBuf,
        /// Output file, or - for stdout.
        output: PathBuf,
    },
    /// Decompress a GDeflate tile stream (tiles in parallel).
    Decompress {
        #[command(flatten)]
        strict: Strict,
        /// Input stream, or - for stdin.
        input: PathBuf,
        /// Output file, or - for stdout.
        output: PathBuf,
    },
    /// Show a stream's header, tiles, ratio and per-tile sizes, or an
    /// archive's index, and validate every tile / entry.
    Info {
        /// Leave out the per-tile / per-entry table.
        #[arg(long)]
        brief: bool,
        /// A GDeflate stream or a dsr archive (- for stdin).
        file: PathBuf,
    },
    /// Decode a stream (optionally checking its SHA-256) or every entry of
    /// an archive against the checksums in its index.
    Verify {
        /// Expected SHA-256 of the decompressed stream (64 hex digits).
        #[arg(long, value_name = "HEX", value_parser = parse_sha256)]
        sha256: Option<sha::Sha256Digest>,
        #[command(flatten)]
        strict: Strict,
        /// A GDeflate stream or a dsr archive (- for stdin).
        file: PathBuf,
    },
    /// Pack a directory into a dsr asset archive (docs/archive.md).
    Pack {
        /// Compression level for the entries, 0 to 12.
        #[arg(short, long, default_value_t = 9, value_parser = clap::value_parser!(u8).range(0..=12))]
        level: u8,
        /// Directory to pack (regular files, recursively).
        dir: PathBuf,
        /// Archive to write.
        output: PathBuf,
    },
    /// Unpack a dsr archive into a new (or empty) directory.
    Unpack {
        /// Archive to read (- for stdin).
        archive: PathBuf,
        /// Directory to create.
        dir: PathBuf,
    },
    /// Run the benchmark suites and print tables with in-run baselines.
    Bench(bench::BenchArgs),
    /// Build sample assets, pack them, stream them back through the request
    /// queue, decompress on the CPU and the GPU, verify, and report.
    Demo(demo::DemoArgs),
}

#[derive(Debug, Args)]
struct Strict {
    /// Require every tile to consume exactly its compressed bytes (SPEC §7
    /// rule 21).
    #[arg(long)]
    strict: bool,
}

fn parse_sha256(s: &str) -> Result<sha::Sha256Digest, String> {
    sha::parse_hex(s).ok_or_else(|| "expected 64 hexadecimal digits".to_owned())
}

fn run(cli: Cli) -> Result<(), CliError> {
    let j = cli.threads;
    match cli.command {
        Command::Compress {
            level,
            input,
            output,
        } => commands::compress(&input, &output, level, j),
        Command::Decompress {
            strict,
            input,
            output,
        } => commands::decompress(&input, &output, j, strict.strict),
        Command::Info { brief, file } => commands::info(&file, brief),
        Command::Verify {
            sha256,
            strict,
            file,
        } => commands::verify(&file, sha256, j, strict.strict),
        Command::Pack { level, dir, output } => commands::pack_command(&dir, &output, level, j),
        Command::Unpack { archive, dir } => commands::unpack(&archive, &dir, j),
        Command::Bench(args) => bench::run(&args, j),
        Command::Demo(args) => demo::run(&args, j),
    }
}

fn main() -> ExitCode {
    // Before anything creates an output: a signal must never take its
    // default action and leave a temporary file behind.
    interrupt::install();
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("dsr: error: {e}");
            let status: ExitStatus = e.exit_status();
            ExitCode::from(status as u8)
        }
    }
}
