//! Ctrl-C (SIGINT) and SIGTERM handling: the handler only sets a flag, and
//! long-running work checks it between tiles and between files, then
//! returns [`CliError::Interrupted`]. Unwinding out of the work drops the
//! temporary outputs (`tempfile` deletes them), so nothing half-written
//! remains; the process then exits with status 130.

use crate::error::CliError;
use std::sync::atomic::{AtomicBool, Ordering};

static REQUESTED: AtomicBool = AtomicBool::new(false);

/// Installs the handler. Call once, before any output file is created, so
/// that a signal never takes the default action (which would leave a
/// temporary file behind). Failure to install is reported, not fatal.
pub fn install() {
    let result = ctrlc::set_handler(|| {
        // Relaxed: the flag carries no data; the workers only need to see
        // it eventually, and `check` is called often.
        REQUESTED.store(true, Ordering::Relaxed);
    });
    if let Err(e) = result {
        eprintln!("dsr: warning: cannot install the Ctrl-C handler: {e}");
    }
}

/// Whether an interrupt was requested.
pub fn requested() -> bool {
    // Relaxed: see `install`.
    REQUESTED.load(Ordering::Relaxed)
}

/// `Err(Interrupted)` once an interrupt was requested.
pub fn check() -> Result<(), CliError> {
    if requested() {
        Err(CliError::Interrupted)
    } else {
        Ok(())
    }
}
