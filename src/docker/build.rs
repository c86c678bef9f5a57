//! Build contexts: a local directory packed as the tar stream the engine's
//! build API takes ([`super::Client::build`]).

use std::path::Path;

/// Packs `dir` as a build context.
pub fn context_tar(dir: &Path) -> std::io::Result<Vec<u8>> {
    let mut builder = tar::Builder::new(Vec::new());
    builder.follow_symlinks(false);
    builder.append_dir_all(".", dir)?;
    builder.into_inner()
}
