//! An OCI image layout on disk (the image-spec's `image-layout.md`: `oci-layout`, `index.json`,
//! `blobs/<algorithm>/<hex>`), read the way `skopeo`'s `oci:` transport reads it: a tag is the
//! `org.opencontainers.image.ref.name` annotation of one descriptor of `index.json`, which names
//! an image manifest or an image index (one manifest per platform). Every blob read is checked
//! against its digest and size. Docker's schema 2 media types are read as their OCI twins (what
//! `skopeo copy docker://... oci:...` may keep).

use std::io::Read;
use std::path::{Path, PathBuf};

use serde_json::Value;
use sha2::{Digest, Sha256};

/// The manifest media types (OCI, Docker schema 2).
const MANIFESTS: [&str; 2] = [
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
];
/// The index media types (OCI image index, Docker manifest list).
const INDEXES: [&str; 2] = [
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
];
const REF_NAME: &str = "org.opencontainers.image.ref.name";

/// How a layer blob is compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Compression {
    Gzip,
    None,
}

/// A layer of the chosen manifest.
#[derive(Debug, Clone)]
pub(crate) struct Layer {
    pub(crate) digest: String,
    pub(crate) compression: Compression,
}

/// The image chosen for a platform: its manifest's layers (base first) and its config.
#[derive(Debug)]
pub(crate) struct Image {
    pub(crate) layers: Vec<Layer>,
    /// The config blob's JSON (`architecture`, `os`, `config`: `Entrypoint`, `Cmd`, ...).
    pub(crate) config: Value,
    /// The tag named an image index (several platforms), from which one was taken.
    pub(crate) from_index: bool,
}

/// An OCI image layout folder.
#[derive(Debug)]
pub(crate) struct Layout {
    dir: PathBuf,
}

impl Layout {
    pub(crate) fn open(dir: &Path) -> Result<Self, String> {
        let marker = dir.join("oci-layout");
        let text = std::fs::read_to_string(&marker).map_err(|e| {
            format!(
                "{} is not an OCI image layout (cannot read {}: {e})",
                dir.display(),
                marker.display()
            )
        })?;
        let version = serde_json::from_str::<Value>(&text)
            .ok()
            .and_then(|v| v.get("imageLayoutVersion")?.as_str().map(str::to_owned));
        if version.as_deref() != Some("1.0.0") {
            return Err(format!(
                "{}: imageLayoutVersion {version:?}, expected \"1.0.0\"",
                marker.display()
            ));
        }
        Ok(Self { dir: dir.to_owned() })
    }

    /// The tag of the layout's only image (an `oci:<dir>` without a tag).
    pub(crate) fn only_tag(&self) -> Result<String, String> {
        let index = self.json_file(&self.dir.join("index.json"))?;
        let tags: Vec<&str> = manifests(&index).into_iter().filter_map(ref_name).collect();
        match (manifests(&index).len(), tags.as_slice()) {
            (1, [one]) => Ok((*one).to_owned()),
            _ => Err(format!(
                "name the image's tag (oci:{}:<tag>): the layout's tags are {}",
                self.dir.display(),
                if tags.is_empty() {
                    "none".to_owned()
                } else {
                    tags.join(", ")
                }
            )),
        }
    }

    /// The image tagged `tag` for `architecture` (the image-spec's names: `amd64`, `arm64`).
    pub(crate) fn image(&self, tag: &str, architecture: &str) -> Result<Image, String> {
        let index = self.json_file(&self.dir.join("index.json"))?;
        let descriptors = manifests(&index);
        let tagged: Vec<&Value> = descriptors
            .iter()
            .copied()
            .filter(|d| ref_name(d) == Some(tag))
            .collect();
        let descriptor = match tagged.as_slice() {
            [one] => *one,
            [] => {
                let tags: Vec<&str> = descriptors.iter().filter_map(|d| ref_name(d)).collect();
                return Err(format!(
                    "no image tagged {tag:?} in {} (its tags: {})",
                    self.dir.join("index.json").display(),
                    if tags.is_empty() {
                        "none".to_owned()
                    } else {
                        tags.join(", ")
                    }
                ));
            }
            _ => return Err(format!("{} images are tagged {tag:?}", tagged.len())),
        };
        let mut from_index = false;
        let mut descriptor = descriptor.clone();
        if INDEXES.contains(&media_type(&descriptor)) {
            from_index = true;
            let nested = self.json_blob(&descriptor)?;
            let entries = manifests(&nested);
            let platforms: Vec<String> = entries.iter().map(|d| platform(d)).collect();
            descriptor = entries
                .iter()
                .find(|d| {
                    d.pointer("/platform/os").and_then(Value::as_str) == Some("linux")
                        && d.pointer("/platform/architecture").and_then(Value::as_str) == Some(architecture)
                })
                .map(|d| (*d).clone())
                .ok_or_else(|| {
                    format!(
                        "the image index tagged {tag:?} has no linux/{architecture} image (it has: {})",
                        platforms.join(", ")
                    )
                })?;
        }
        if !MANIFESTS.contains(&media_type(&descriptor)) {
            return Err(format!(
                "{tag:?} names a {:?}, not an image manifest or index",
                media_type(&descriptor)
            ));
        }
        let manifest = self.json_blob(&descriptor)?;
        let config_descriptor = manifest
            .get("config")
            .ok_or_else(|| format!("the manifest of {tag:?} has no config"))?;
        let config = self.json_blob(config_descriptor)?;
        let mut layers = Vec::new();
        for layer in manifest
            .get("layers")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let kind = media_type(layer);
            let compression = match kind {
                "application/vnd.oci.image.layer.v1.tar+gzip"
                | "application/vnd.docker.image.rootfs.diff.tar.gzip" => Compression::Gzip,
                "application/vnd.oci.image.layer.v1.tar" => Compression::None,
                other => {
                    return Err(format!(
                        "layer media type {other:?} is not supported (tar or tar+gzip; Lambda takes the same: re-push the image with gzip layers)"
                    ));
                }
            };
            let digest = string(layer, "digest")?;
            // Read once for its digest and size before it is unpacked.
            self.verified(layer, |_| Ok(()))?;
            layers.push(Layer { digest, compression });
        }
        Ok(Image {
            layers,
            config,
            from_index,
        })
    }

    /// The path of `digest`'s blob.
    pub(crate) fn blob_path(&self, digest: &str) -> Result<PathBuf, String> {
        let (algorithm, hex) = digest
            .split_once(':')
            .ok_or_else(|| format!("{digest:?} is not a digest"))?;
        if algorithm != "sha256" || hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(format!("{digest:?}: only sha256 digests are read"));
        }
        Ok(self.dir.join("blobs").join(algorithm).join(hex))
    }

    fn json_file(&self, path: &Path) -> Result<Value, String> {
        let bytes = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        serde_json::from_slice(&bytes).map_err(|e| format!("{}: not JSON: {e}", path.display()))
    }

    fn json_blob(&self, descriptor: &Value) -> Result<Value, String> {
        self.verified(descriptor, |bytes| {
            serde_json::from_slice(bytes).map_err(|e| format!("not JSON: {e}"))
        })
    }

    /// Reads the blob `descriptor` names, checks its size and digest, and hands its bytes to
    /// `then`.
    fn verified<T>(
        &self,
        descriptor: &Value,
        then: impl FnOnce(&[u8]) -> Result<T, String>,
    ) -> Result<T, String> {
        let digest = string(descriptor, "digest")?;
        let path = self.blob_path(&digest)?;
        let mut file = std::fs::File::open(&path)
            .map_err(|e| format!("blob {digest}: cannot read {}: {e}", path.display()))?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)
            .map_err(|e| format!("blob {digest}: cannot read {}: {e}", path.display()))?;
        if let Some(size) = descriptor.get("size").and_then(Value::as_u64)
            && size != bytes.len() as u64
        {
            return Err(format!(
                "blob {digest} is {} bytes, its descriptor says {size}",
                bytes.len()
            ));
        }
        let actual = sha256_hex(&bytes);
        if digest.strip_prefix("sha256:") != Some(actual.as_str()) {
            return Err(format!(
                "blob {digest} does not match its digest (its content is sha256:{actual})"
            ));
        }
        then(&bytes).map_err(|e| format!("blob {digest}: {e}"))
    }
}

pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

fn manifests(index: &Value) -> Vec<&Value> {
    index
        .get("manifests")
        .and_then(Value::as_array)
        .map(|a| a.iter().collect())
        .unwrap_or_default()
}

fn ref_name(descriptor: &Value) -> Option<&str> {
    descriptor.get("annotations")?.get(REF_NAME)?.as_str()
}

fn media_type(descriptor: &Value) -> &str {
    descriptor
        .get("mediaType")
        .and_then(Value::as_str)
        .unwrap_or_default()
}

fn platform(descriptor: &Value) -> String {
    let part = |k: &str| {
        descriptor
            .pointer(&format!("/platform/{k}"))
            .and_then(Value::as_str)
            .unwrap_or("?")
            .to_owned()
    };
    format!("{}/{}", part("os"), part("architecture"))
}

fn string(v: &Value, key: &str) -> Result<String, String> {
    v.get(key)
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| format!("a descriptor without {key:?}: {v}"))
}
