//! Building images through the engine's API from a local context directory
//! (no registry needed): the context is sent as a tar stream, and the build
//! output comes back line by line, stripped of control sequences.

use std::path::Path;

use bollard::Docker;
use bollard::query_parameters::BuildImageOptions;
use futures_util::StreamExt;

/// Packs `dir` as a build context.
pub fn context_tar(dir: &Path) -> std::io::Result<Vec<u8>> {
    let mut builder = tar::Builder::new(Vec::new());
    builder.follow_symlinks(false);
    builder.append_dir_all(".", dir)?;
    builder.into_inner()
}

/// Builds `tag` from a tar context, calling `on_line` for each output line.
/// Fails with the engine's own error message.
pub async fn build_image(
    docker: &Docker,
    tag: &str,
    context: Vec<u8>,
    dockerfile: &str,
    args: &crate::config::Map<String, String>,
    mut on_line: impl FnMut(String),
) -> Result<(), String> {
    let options = BuildImageOptions {
        dockerfile: dockerfile.to_string(),
        t: Some(tag.to_string()),
        rm: true,
        forcerm: true,
        buildargs: (!args.is_empty()).then(|| args.clone().into_iter().collect()),
        ..Default::default()
    };
    let mut stream = docker.build_image(options, None, Some(bollard::body_full(context.into())));
    while let Some(item) = stream.next().await {
        let info = item.map_err(|e| format!("building {tag}: {}", super::describe(&e)))?;
        if let Some(detail) = info.error_detail {
            let message = detail
                .message
                .unwrap_or_else(|| "unknown build error".into());
            return Err(format!(
                "building {tag}: {}",
                crate::sanitize::one_line(&message)
            ));
        }
        if let Some(text) = info.stream {
            for line in crate::sanitize::strip_controls(&text).lines() {
                if !line.trim().is_empty() {
                    on_line(line.to_string());
                }
            }
        }
    }
    Ok(())
}
