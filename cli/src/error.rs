//! Everything `dsr` can fail with, each variant carrying the context needed
//! to act on it (which file, entry, tile, offset), and the process exit code
//! it maps to ([`ExitStatus`], documented in `dsr --help` and the README).

use crate::archive::ArchiveError;
use ds_gdeflate::encode::EncodeError;
use ds_gdeflate::DecodeError;
use ds_gpu::GpuError;
use ds_os_linux::{BuildError, EnqueueError, RequestError, WaitError};
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

/// Process exit codes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExitStatus {
    /// 0: success.
    Ok = 0,
    /// 1: the command failed (I/O error, corrupt input, GPU or queue error).
    Failure = 1,
    /// 2: bad command line (also what clap uses for usage errors).
    Usage = 2,
    /// 3: the data decoded but does not match its checksum.
    Mismatch = 3,
    /// 130: interrupted by Ctrl-C / SIGINT or SIGTERM (128 + SIGINT); no
    /// partial output was left behind.
    Interrupted = 130,
}

/// A `dsr` failure.
#[derive(Debug)]
pub enum CliError {
    /// The command line is inconsistent in a way clap cannot check.
    Usage(String),
    /// A file-system operation failed.
    Io {
        /// What was being done ("read", "create", "rename", ...).
        action: &'static str,
        /// On which path ("-" for stdin/stdout).
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
    /// A GDeflate stream did not decode.
    Decode {
        /// What was being decoded: a file name, or an archive entry.
        what: String,
        /// The decoder's error (names the tile and the payload offset).
        error: DecodeError,
        /// Absolute offset in the file of the failing byte, when known.
        file_offset: Option<u64>,
    },
    /// The encoder refused the input.
    Encode {
        /// The input.
        what: String,
        /// Why.
        error: EncodeError,
    },
    /// An archive is malformed.
    Archive {
        /// The archive file.
        path: PathBuf,
        /// What is wrong with it.
        error: ArchiveError,
    },
    /// Input the command cannot work with (not a stream nor an archive, a
    /// non-empty destination, a symlink in a pack directory, ...).
    Invalid {
        /// What and why.
        what: String,
    },
    /// Decoded data does not match its checksum.
    Mismatch {
        /// What was checked.
        what: String,
        /// Expected SHA-256 (hex).
        expected: String,
        /// Actual SHA-256 (hex).
        actual: String,
    },
    /// Several entries failed verification; each line names one.
    Several {
        /// How many failures were mismatches (exit code 3 if all are).
        mismatches: usize,
        /// The individual failures.
        errors: Vec<CliError>,
    },
    /// The request queue could not be built.
    QueueBuild(BuildError),
    /// The queue refused a request.
    Enqueue {
        /// The request's name.
        what: String,
        /// Why.
        error: EnqueueError,
    },
    /// Waiting for a request failed.
    Wait(WaitError),
    /// A request failed in the queue (boxed: it is large).
    Request(Box<RequestError>),
    /// The GPU path failed.
    Gpu {
        /// What was being done.
        what: String,
        /// The GPU error.
        error: GpuError,
    },
    /// Ctrl-C / SIGINT / SIGTERM.
    Interrupted,
}

impl CliError {
    /// An [`CliError::Io`] for `path`.
    pub fn io(action: &'static str, path: &Path) -> impl FnOnce(io::Error) -> CliError {
        let path = path.to_path_buf();
        move |source| CliError::Io {
            action,
            path,
            source,
        }
    }

    /// The exit code of this error.
    pub fn exit_status(&self) -> ExitStatus {
        match self {
            CliError::Usage(_) => ExitStatus::Usage,
            CliError::Mismatch { .. } => ExitStatus::Mismatch,
            CliError::Several { mismatches, errors } if *mismatches == errors.len() => {
                ExitStatus::Mismatch
            }
            CliError::Interrupted => ExitStatus::Interrupted,
            _ => ExitStatus::Failure,
        }
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CliError::Usage(m) => f.write_str(m),
            CliError::Io {
                action,
                path,
                source,
            } => write!(f, "cannot {action} {}: {source}", path.display()),
            CliError::Decode {
                what,
                error,
                file_offset,
            } => {
                write!(f, "{what}: {error}")?;
                if let Some(at) = file_offset {
                    write!(f, " (file offset {at})")?;
                }
                Ok(())
            }
            CliError::Encode { what, error } => write!(f, "{what}: {error}"),
            CliError::Archive { path, error } => write!(f, "{}: {error}", path.display()),
            CliError::Invalid { what } => f.write_str(what),
            CliError::Mismatch {
                what,
                expected,
                actual,
            } => write!(
                f,
                "{what}: checksum mismatch: sha256 {actual}, expected {expected}"
            ),
            CliError::Several { errors, .. } => {
                write!(f, "{} failures:", errors.len())?;
                for e in errors {
                    write!(f, "\n  {e}")?;
                }
                Ok(())
            }
            CliError::QueueBuild(e) => write!(f, "cannot build the request queue: {e}"),
            CliError::Enqueue { what, error } => write!(f, "cannot enqueue {what}: {error}"),
            CliError::Wait(e) => write!(f, "waiting for a request failed: {e}"),
            CliError::Request(e) => write!(f, "request failed: {e}"),
            CliError::Gpu { what, error } => write!(f, "{what}: {error}"),
            CliError::Interrupted => f.write_str("interrupted; no partial output was left"),
        }
    }
}

impl std::error::Error for CliError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            CliError::Io { source, .. } => Some(source),
            CliError::Decode { error, .. } => Some(error),
            CliError::Encode { error, .. } => Some(error),
            CliError::Gpu { error, .. } => Some(error),
            CliError::Request(e) => Some(&**e),
            _ => None,
        }
    }
}

impl From<RequestError> for CliError {
    fn from(e: RequestError) -> Self {
        CliError::Request(Box::new(e))
    }
}

impl From<WaitError> for CliError {
    fn from(e: WaitError) -> Self {
        CliError::Wait(e)
    }
}
