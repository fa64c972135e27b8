//! Outputs that appear whole or not at all. A file output is written to a
//! temporary file in the destination's directory (`.dsr-*.part`, so the
//! final rename never crosses file systems) and renamed over the
//! destination only after everything succeeded; a directory output (unpack)
//! is built in a temporary directory beside the destination and renamed the
//! same way. On any error, and on Ctrl-C (which turns into an error between
//! tiles or files), the temporary is deleted when it is dropped. `-` means
//! stdout, written in one go once the data is complete. Temporaries are
//! created with modes 0666 / 0777 less the umask, so the renamed result has
//! the permissions any new file or directory would get (not tempfile's
//! private 0600 / 0700).

use crate::error::CliError;
use crate::interrupt;
use std::fs::{File, Permissions};
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use tempfile::{NamedTempFile, TempDir};

/// Prefix of every temporary file or directory dsr creates.
pub const TEMP_PREFIX: &str = ".dsr-";

/// True for the path `-` (stdin / stdout).
pub fn is_stdio(path: &Path) -> bool {
    path.as_os_str() == "-"
}

/// The directory a destination path lives in (`.` for a bare name).
pub fn parent_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Reads a whole input file, or stdin for `-`.
pub fn read_input(path: &Path) -> Result<Vec<u8>, CliError> {
    if is_stdio(path) {
        let mut buf = Vec::new();
        std::io::Read::read_to_end(&mut std::io::stdin().lock(), &mut buf)
            .map_err(CliError::io("read", path))?;
        Ok(buf)
    } else {
        std::fs::read(path).map_err(CliError::io("read", path))
    }
}

/// A file being written under a temporary name.
#[derive(Debug)]
pub struct PendingFile {
    temp: NamedTempFile,
    dest: PathBuf,
}

impl PendingFile {
    /// Creates the temporary file beside `dest`.
    pub fn create(dest: &Path) -> Result<Self, CliError> {
        let dir = parent_dir(dest);
        let temp = tempfile::Builder::new()
            .prefix(TEMP_PREFIX)
            .suffix(".part")
            .permissions(Permissions::from_mode(0o666))
            .tempfile_in(&dir)
            .map_err(CliError::io("create a temporary file in", &dir))?;
        Ok(PendingFile {
            temp,
            dest: dest.to_path_buf(),
        })
    }

    /// The open temporary file.
    pub fn file(&self) -> &File {
        self.temp.as_file()
    }

    /// The destination path.
    pub fn dest(&self) -> &Path {
        &self.dest
    }

    /// Appends `data`.
    pub fn write_all(&mut self, data: &[u8]) -> Result<(), CliError> {
        self.temp
            .write_all(data)
            .map_err(CliError::io("write", self.temp.path()))
    }

    /// Flushes to disk and renames over the destination, unless an
    /// interrupt arrived (then the temporary is deleted).
    pub fn commit(self) -> Result<(), CliError> {
        interrupt::check()?;
        self.temp
            .as_file()
            .sync_all()
            .map_err(CliError::io("flush", self.temp.path()))?;
        let dest = self.dest;
        self.temp
            .persist(&dest)
            .map_err(|e| CliError::io("rename a temporary file to", &dest)(e.error))?;
        Ok(())
    }
}

/// Where a command's single output goes: a [`PendingFile`] created before
/// the work starts (so an unwritable destination fails at once, and an
/// interrupted run has a temporary to clean up), or stdout for `-`.
#[derive(Debug)]
pub enum Output {
    /// Standard output, written in one go by [`Output::finish`].
    Stdout,
    /// A temporary file beside the destination.
    File(PendingFile),
}

impl Output {
    /// Prepares the output for `dest`.
    pub fn create(dest: &Path) -> Result<Self, CliError> {
        if is_stdio(dest) {
            Ok(Output::Stdout)
        } else {
            PendingFile::create(dest).map(Output::File)
        }
    }

    /// Writes `data` whole and commits it (rename into place, or one write
    /// to stdout), unless an interrupt arrived.
    pub fn finish(self, data: &[u8]) -> Result<(), CliError> {
        interrupt::check()?;
        match self {
            Output::Stdout => {
                let mut out = std::io::stdout().lock();
                out.write_all(data)
                    .and_then(|()| out.flush())
                    .map_err(CliError::io("write", Path::new("-")))
            }
            Output::File(mut f) => {
                f.write_all(data)?;
                f.commit()
            }
        }
    }
}

/// A directory being filled under a temporary name.
#[derive(Debug)]
pub struct PendingDir {
    temp: TempDir,
    dest: PathBuf,
}

impl PendingDir {
    /// Checks that `dest` does not exist or is an empty directory, creates
    /// its parent if needed, and the temporary directory beside it.
    pub fn create(dest: &Path) -> Result<Self, CliError> {
        match std::fs::read_dir(dest) {
            Ok(mut it) => {
                if it.next().is_some() {
                    return Err(CliError::Invalid {
                        what: format!(
                            "{} exists and is not empty; unpack into a new directory",
                            dest.display()
                        ),
                    });
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(CliError::io("read the directory", dest)(e)),
        }
        let parent = parent_dir(dest);
        std::fs::create_dir_all(&parent).map_err(CliError::io("create", &parent))?;
        let temp = tempfile::Builder::new()
            .prefix(TEMP_PREFIX)
            .permissions(Permissions::from_mode(0o777))
            .tempdir_in(&parent)
            .map_err(CliError::io("create a temporary directory in", &parent))?;
        Ok(PendingDir {
            temp,
            dest: dest.to_path_buf(),
        })
    }

    /// The temporary directory to fill.
    pub fn path(&self) -> &Path {
        self.temp.path()
    }

    /// Renames the temporary directory over the destination (which must
    /// still be absent or empty), unless an interrupt arrived.
    pub fn commit(self) -> Result<(), CliError> {
        interrupt::check()?;
        std::fs::rename(self.temp.path(), &self.dest)
            .map_err(CliError::io("rename a temporary directory to", &self.dest))?;
        // Renamed away: nothing is left to delete.
        let _ = self.temp.keep();
        Ok(())
    }
}
