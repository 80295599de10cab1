//! External tools a test needs. A missing tool fails the test, naming the
//! tool and the command that installs it: no check is ever skipped.

use std::path::PathBuf;
use std::process::Command;

use super::process::root;

/// What installs every tool below (`deploy/local/test.sh` runs it).
pub const INSTALL: &str = "deploy/local/tools.sh";

/// A command for `name`: the repository's own copy under `.local/bin`
/// (installed there by [`INSTALL`]) when present, otherwise from `PATH`.
/// Fails loudly when neither has it; `how` says where it comes from.
pub fn tool(name: &str, how: &str) -> Command {
    let local = root().join(".local/bin").join(name);
    let path = if local.is_file() {
        local
    } else {
        find_on_path(name).unwrap_or_else(|| {
            panic!(
                "`{name}` is required but not installed ({how}): run `{INSTALL}`, \
                 then run the tests again"
            )
        })
    };
    Command::new(path)
}

fn find_on_path(name: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}
