//! The rules version: one hash naming everything that decides grants.
//!
//! Commands carry it as `cause.rules_version` and the engine exposes it as
//! `provisioner_rules_version_info`, so it must change exactly when the
//! outcome may change: a file's name or contents, the load order (it breaks
//! precedence ties), or the catalogue's apps and role lists (role order is
//! precedence). Nothing else in the catalogue (URLs, credentials, rate
//! limits) is hashed, so tuning a connector does not look like a rules change.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;

use sha2::{Digest, Sha256};

use crate::config::AppConfig;

/// Tag of this hashing scheme, so a future change of it changes every version.
const SCHEME: &[u8] = b"provisioner-rules-v1";

/// `sha256:<hex>` over the files (in load order) and the catalogue.
///
/// A file contributes its file name only, not its directory, so the same
/// rules mounted at different paths on different hosts share a version.
/// Every piece is length-prefixed so no two different inputs hash alike.
pub(crate) fn compute(sources: &[(PathBuf, String)], apps: &BTreeMap<String, AppConfig>) -> String {
    let files = sources.iter().map(|(label, text)| {
        let name = label
            .file_name()
            .map_or_else(|| label.to_string_lossy(), |n| n.to_string_lossy());
        (name, text.as_str())
    });
    let catalogue = apps
        .iter()
        .map(|(app, config)| (app.as_str(), config.roles.as_slice()));
    compute_from(files, catalogue)
}

/// [`compute`] from file names and texts (in load order) and the
/// catalogue's app names with their role lists (in app-name order): what a
/// stored rules snapshot carries, so its version can be checked on read.
pub(crate) fn compute_from<'a, N: AsRef<str>>(
    files: impl IntoIterator<Item = (N, &'a str)>,
    catalogue: impl IntoIterator<Item = (&'a str, &'a [String])>,
) -> String {
    let mut hash = Sha256::new();
    hash.update(SCHEME);
    for (name, text) in files {
        put(&mut hash, b"file");
        put(&mut hash, name.as_ref().as_bytes());
        put(&mut hash, text.as_bytes());
    }
    for (app, roles) in catalogue {
        put(&mut hash, b"app");
        put(&mut hash, app.as_bytes());
        hash.update((roles.len() as u64).to_be_bytes());
        for role in roles {
            put(&mut hash, role.as_bytes());
        }
    }
    let digest = hash.finalize();
    let mut out = String::with_capacity(7 + 64);
    out.push_str("sha256:");
    for byte in digest {
        // Writing to a String cannot fail.
        let _ = write!(out, "{byte:02x}");
    }
    out
}

/// Feeds one length-prefixed piece.
fn put(hash: &mut Sha256, bytes: &[u8]) {
    hash.update((bytes.len() as u64).to_be_bytes());
    hash.update(bytes);
}
