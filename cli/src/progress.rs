//! Progress bars (`indicatif`) on stderr for work that can take more than a
//! second. They are hidden when stderr is not a terminal (pipes, CI logs,
//! tests), so output stays clean there.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;

/// A byte-counting bar of `total` bytes labelled `what`, or a hidden bar
/// when stderr is not a terminal.
pub fn bytes(total: u64, what: &str) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(Some(total), target());
    bar.set_style(
        ProgressStyle::with_template(
            "{msg:>12} [{bar:32}] {bytes}/{total_bytes} {binary_bytes_per_sec} eta {eta}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    bar.set_message(what.to_owned());
    bar
}

/// A bar that draws nothing (for library callers that want no output).
pub fn hidden() -> ProgressBar {
    ProgressBar::hidden()
}

fn target() -> ProgressDrawTarget {
    if std::io::stderr().is_terminal() {
        ProgressDrawTarget::stderr()
    } else {
        ProgressDrawTarget::hidden()
    }
}
