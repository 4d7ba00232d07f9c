//! An image's layers applied to a root folder, base first, as the image-spec's layer
//! changesets say (`layer.md`, (a) of the OCI, which Lambda's image support follows): a layer's
//! whiteouts (`.wh.NAME`: NAME of the layers below is gone; `.wh..wh..opq`: the directory's
//! contents from below are gone) apply to the layers below it only, so they are applied first,
//! then the layer's own files; a file replaces whatever the layers below had at its path.
//! Nothing is written outside the root: a path with `..`, or whose folder leads out through a
//! symbolic link of the image, is skipped (the `tar` crate's `unpack_in` checks the same for
//! what it writes). Devices and FIFOs are skipped: an unprivileged function could not use them.

use std::io::{BufReader, Read};
use std::path::{Component, Path, PathBuf};

use super::layout::Compression;

const OPAQUE: &str = ".wh..wh..opq";
const WHITEOUT: &str = ".wh.";

/// Applies the layer in `blob` to `root`. Returns how many entries were skipped (devices,
/// FIFOs, paths that lead outside).
pub(crate) fn apply(root: &Path, blob: &Path, compression: Compression) -> Result<usize, String> {
    let root = std::fs::canonicalize(root).map_err(|e| format!("{}: {e}", root.display()))?;
    let mut skipped = 0;
    // The whiteouts first: they remove what the layers below left, never this layer's files.
    each_entry(blob, compression, |_, path| {
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            return Ok(());
        };
        let parent = path.parent().unwrap_or(Path::new(""));
        if name == OPAQUE {
            let dir = root.join(parent);
            if inside(&root, &dir) && is_real_dir(&dir) {
                let children = std::fs::read_dir(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
                for child in children.flatten() {
                    remove(&child.path())?;
                }
            }
        } else if let Some(hidden) = name.strip_prefix(WHITEOUT)
            && names_an_entry(hidden)
        {
            let target = root.join(parent).join(hidden);
            if inside(&root, &target) {
                remove(&target)?;
            }
        }
        Ok(())
    })?;
    skipped += each_entry(blob, compression, |entry, path| {
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        if name.starts_with(WHITEOUT) {
            return Ok(());
        }
        let kind = entry.header().entry_type();
        if !(kind.is_file() || kind.is_dir() || kind.is_symlink() || kind.is_hard_link()) {
            skipped += 1;
            return Ok(());
        }
        let target = root.join(path);
        if !inside(&root, &target) {
            skipped += 1;
            return Ok(());
        }
        // A directory merges with the one below; anything else replaces what was there (and
        // never writes through a symbolic link the layers below left at its path).
        if let Ok(existing) = std::fs::symlink_metadata(&target)
            && !(kind.is_dir() && existing.is_dir())
        {
            remove(&target)?;
        }
        match entry.unpack_in(&root) {
            Ok(true) => Ok(()),
            Ok(false) => {
                skipped += 1;
                Ok(())
            }
            Err(e) => Err(format!("{}: {e}", path.display())),
        }
    })?;
    Ok(skipped)
}

/// Calls `f` with each entry of the layer and its path relative to the root (`./a/b`, `/a/b`
/// and `a/b` alike); entries whose path has `..` are left out and counted, the root itself is
/// left out.
fn each_entry(
    blob: &Path,
    compression: Compression,
    mut f: impl FnMut(&mut tar::Entry<'_, Box<dyn Read>>, &Path) -> Result<(), String>,
) -> Result<usize, String> {
    let mut climbing = 0;
    let file = std::fs::File::open(blob).map_err(|e| format!("cannot read {}: {e}", blob.display()))?;
    let reader: Box<dyn Read> = match compression {
        Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(BufReader::new(file))),
        Compression::None => Box::new(BufReader::new(file)),
    };
    let mut archive = tar::Archive::new(reader);
    archive.set_preserve_mtime(true);
    let entries = archive
        .entries()
        .map_err(|e| format!("{}: not a tar archive: {e}", blob.display()))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| format!("{}: a broken tar entry: {e}", blob.display()))?;
        let raw = entry
            .path()
            .map_err(|e| format!("{}: an entry's path: {e}", blob.display()))?
            .into_owned();
        match relative(&raw) {
            Some(path) if path.as_os_str().is_empty() => {}
            Some(path) => f(&mut entry, &path)?,
            None => climbing += 1,
        }
    }
    Ok(climbing)
}

/// `raw` as a path below the root (empty for the root itself), or `None` when it climbs out.
fn relative(raw: &Path) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for part in raw.components() {
        match part {
            Component::Normal(p) => out.push(p),
            Component::CurDir | Component::RootDir => {}
            Component::ParentDir | Component::Prefix(_) => return None,
        }
    }
    Some(out)
}

/// Whether a whiteout's hidden name is one entry's name: `.wh...` would hide `..` (the folder
/// above, or above the root) and `.wh..` the folder itself, which no layer below can have as an
/// entry; those whiteouts remove nothing.
fn names_an_entry(hidden: &str) -> bool {
    let mut parts = Path::new(hidden).components();
    matches!(parts.next(), Some(Component::Normal(n)) if n == hidden) && parts.next().is_none()
}

/// Whether `path`'s folder, with every symbolic link followed, is `root` or inside it.
fn inside(root: &Path, path: &Path) -> bool {
    let Some(parent) = path.parent() else {
        return false;
    };
    // A folder that does not exist yet will be made below the deepest one that does.
    let mut existing = parent;
    loop {
        if let Ok(canonical) = std::fs::canonicalize(existing) {
            return canonical.starts_with(root);
        }
        match existing.parent() {
            Some(p) => existing = p,
            None => return false,
        }
    }
}

fn is_real_dir(path: &Path) -> bool {
    std::fs::symlink_metadata(path).is_ok_and(|m| m.is_dir())
}

/// Removes `path` (a folder with its contents; a link itself, never its target); absent is
/// fine.
fn remove(path: &Path) -> Result<(), String> {
    let result = match std::fs::symlink_metadata(path) {
        Err(_) => return Ok(()),
        Ok(m) if m.is_dir() => std::fs::remove_dir_all(path),
        Ok(_) => std::fs::remove_file(path),
    };
    result.map_err(|e| format!("cannot remove {}: {e}", path.display()))
}
