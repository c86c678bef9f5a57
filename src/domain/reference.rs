//! Image references as Docker reads them.

/// Splits `repo[:tag]`, minding registry ports (`host:5000/repo`) and
/// digests (`repo@sha256:...` has no tag).
pub fn split_tag(image: &str) -> (&str, Option<&str>) {
    let image = image.split('@').next().unwrap_or(image);
    let last_slash = image.rfind('/').map_or(0, |i| i + 1);
    match image.get(last_slash..).and_then(|tail| tail.rfind(':')) {
        Some(i) => (
            image.get(..last_slash + i).unwrap_or(image),
            image.get(last_slash + i + 1..),
        ),
        None => (image, None),
    }
}
