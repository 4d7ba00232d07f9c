use std::io::Write;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use super::layout::{Compression, Layout, sha256_hex};
use super::*;

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("image-{name}-{}", crate::ids::random_hex(4)));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

enum Entry<'a> {
    File(&'a str, &'a [u8]),
    Dir(&'a str),
    Link(&'a str, &'a str),
    /// A name written as is, `..` and all (tar::Builder refuses those).
    Raw(&'a str, &'a [u8]),
}

/// A gzip'd tar of `entries`, in that order.
fn layer(entries: &[Entry<'_>]) -> Vec<u8> {
    let mut tar = tar::Builder::new(Vec::new());
    for entry in entries {
        let mut h = tar::Header::new_gnu();
        h.set_mtime(0);
        match entry {
            Entry::File(path, data) => {
                h.set_entry_type(tar::EntryType::Regular);
                h.set_mode(0o755);
                h.set_size(data.len() as u64);
                tar.append_data(&mut h, path, *data).unwrap();
            }
            Entry::Dir(path) => {
                h.set_entry_type(tar::EntryType::Directory);
                h.set_mode(0o755);
                h.set_size(0);
                tar.append_data(&mut h, path, std::io::empty()).unwrap();
            }
            Entry::Link(path, target) => {
                h.set_entry_type(tar::EntryType::Symlink);
                h.set_size(0);
                tar.append_link(&mut h, path, target).unwrap();
            }
            Entry::Raw(name, data) => {
                h.set_entry_type(tar::EntryType::Regular);
                h.set_mode(0o644);
                h.set_size(data.len() as u64);
                let field = &mut h.as_old_mut().name;
                field.fill(0);
                field[..name.len()].copy_from_slice(name.as_bytes());
                h.set_cksum();
                tar.append(&h, *data).unwrap();
            }
        }
    }
    let raw = tar.into_inner().unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&raw).unwrap();
    gz.finish().unwrap()
}

/// Writes a blob; returns its descriptor.
fn blob(layout: &Path, bytes: &[u8], media_type: &str) -> Value {
    let hex = sha256_hex(bytes);
    std::fs::create_dir_all(layout.join("blobs/sha256")).unwrap();
    std::fs::write(layout.join("blobs/sha256").join(&hex), bytes).unwrap();
    json!({"mediaType": media_type, "digest": format!("sha256:{hex}"), "size": bytes.len()})
}

/// A layout whose `tag` names an index of one image per `(architecture, layers, config)`
/// (`index` true), or the single image's manifest.
fn write_layout(dir: &Path, tag: &str, images: &[(&str, Vec<Vec<u8>>, Value)], index: bool) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    let mut manifests = Vec::new();
    for (architecture, layers, config) in images {
        let layers: Vec<Value> = layers
            .iter()
            .map(|l| blob(dir, l, "application/vnd.oci.image.layer.v1.tar+gzip"))
            .collect();
        let config = json!({"architecture": architecture, "os": "linux", "config": config,
            "rootfs": {"type": "layers", "diff_ids": []}});
        let config = blob(
            dir,
            config.to_string().as_bytes(),
            "application/vnd.oci.image.config.v1+json",
        );
        let manifest = json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": config, "layers": layers});
        let mut d = blob(
            dir,
            manifest.to_string().as_bytes(),
            "application/vnd.oci.image.manifest.v1+json",
        );
        d["platform"] = json!({"architecture": architecture, "os": "linux"});
        manifests.push(d);
    }
    let mut top = if index {
        let i = json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": manifests});
        blob(
            dir,
            i.to_string().as_bytes(),
            "application/vnd.oci.image.index.v1+json",
        )
    } else {
        manifests.remove(0)
    };
    top["annotations"] = json!({"org.opencontainers.image.ref.name": tag});
    std::fs::write(
        dir.join("index.json"),
        json!({"schemaVersion": 2, "manifests": [top]}).to_string(),
    )
    .unwrap();
}

/// `layers` as one amd64 image in a layout under `dir`, unpacked in order into `dir/root`: the
/// root, and how many entries were skipped.
fn unpack_all(dir: &Path, layers: Vec<Vec<u8>>) -> (PathBuf, usize) {
    let layout = dir.join("layout");
    write_layout(&layout, "t", &[("amd64", layers, json!({}))], false);
    let root = dir.join("root");
    std::fs::create_dir_all(&root).unwrap();
    let l = Layout::open(&layout).unwrap();
    let image = l.image("t", "amd64").unwrap();
    let skipped = image
        .layers
        .iter()
        .map(|layer| unpack::apply(&root, &l.blob_path(&layer.digest).unwrap(), layer.compression).unwrap())
        .sum();
    (root, skipped)
}

#[test]
fn references_are_skopeos_oci_form_relative_to_the_template() {
    let base = Path::new("/t");
    assert_eq!(
        parse_reference("oci:img:1.2", base).unwrap(),
        ImageRef {
            dir: "/t/img".into(),
            tag: Some("1.2".into())
        }
    );
    assert_eq!(
        parse_reference("oci:/abs/img", base).unwrap(),
        ImageRef {
            dir: "/abs/img".into(),
            tag: None
        }
    );
    let ecr = parse_reference("123456789012.dkr.ecr.us-east-1.amazonaws.com/f:1", base).unwrap_err();
    assert!(ecr.contains("skopeo copy docker://"), "{ecr}");
    assert!(parse_reference("oci::x", base).is_err());
}

#[test]
fn the_process_is_entrypoint_then_cmd_from_workdir_and_image_config_overrides_each() {
    let config = json!({"config": {"Entrypoint": ["/lambda-entrypoint.sh"], "Cmd": ["app.handler"],
        "WorkingDir": "/var/task", "Env": ["PATH=/var/lang/bin:/usr/bin", "A=b=c"]}});
    let p = Process::of(&config, &ImageConfig::default());
    assert_eq!(p.argv, ["/lambda-entrypoint.sh", "app.handler"]);
    assert_eq!(p.working_dir, "/var/task");
    assert_eq!(p.var("A"), Some("b=c"));
    let over = ImageConfig {
        entry_point: None,
        command: Some(vec!["other.handler".into()]),
        working_directory: Some("/srv".into()),
    };
    let p = Process::of(&config, &over);
    assert_eq!(p.argv, ["/lambda-entrypoint.sh", "other.handler"]);
    assert_eq!(p.working_dir, "/srv");
    let over = ImageConfig {
        entry_point: Some(vec!["/bin/run".into(), "-x".into()]),
        ..ImageConfig::default()
    };
    assert_eq!(
        Process::of(&config, &over).argv,
        ["/bin/run", "-x", "app.handler"]
    );
    // No WORKDIR: Docker's and Lambda's default, the root.
    assert_eq!(
        Process::of(&json!({"config": {"Cmd": ["x"]}}), &ImageConfig::default()).working_dir,
        "/"
    );
}

#[test]
fn layers_apply_in_order_with_whiteouts_and_opaque_folders_and_nothing_lands_outside() {
    let dir = scratch("whiteouts");
    let outside = dir.join("outside");
    std::fs::create_dir_all(&outside).unwrap();
    let base = layer(&[
        Entry::Dir("a"),
        Entry::File("a/keep", b"keep"),
        Entry::File("a/gone", b"gone"),
        Entry::Dir("d/sub"),
        Entry::File("d/old", b"old"),
        Entry::File("d/sub/older", b"older"),
        Entry::File("replaced", b"a file"),
        Entry::Link("escape", outside.to_str().unwrap()),
        Entry::Link("rel", "a/keep"),
    ]);
    let upper = layer(&[
        // This layer's own file in an opaque folder stays, whatever the order in the tar.
        Entry::File("d/new", b"new"),
        Entry::File("d/.wh..wh..opq", b""),
        Entry::File("a/.wh.gone", b""),
        Entry::Dir("replaced"),
        Entry::File("replaced/inside", b"dir now"),
        // Through the base's link to a folder outside the root: skipped.
        Entry::Raw("escape/planted", b"x"),
        Entry::Raw("../climbed", b"x"),
        // A file where the base had a link: the link goes, its target is untouched.
        Entry::File("rel", b"file now"),
    ]);
    let (root, skipped) = unpack_all(&dir, vec![base, upper]);
    assert_eq!(std::fs::read(root.join("a/keep")).unwrap(), b"keep");
    assert!(!root.join("a/gone").exists());
    assert!(!root.join("a/.wh.gone").exists());
    assert!(!root.join("d/old").exists() && !root.join("d/sub").exists());
    assert_eq!(std::fs::read(root.join("d/new")).unwrap(), b"new");
    assert!(!root.join("d/.wh..wh..opq").exists());
    assert_eq!(std::fs::read(root.join("replaced/inside")).unwrap(), b"dir now");
    assert_eq!(std::fs::read(root.join("rel")).unwrap(), b"file now");
    assert_eq!(std::fs::read(root.join("a/keep")).unwrap(), b"keep");
    assert_eq!(std::fs::read_dir(&outside).unwrap().count(), 0);
    assert!(!dir.join("climbed").exists());
    assert_eq!(skipped, 2);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn an_index_gives_the_functions_platform_and_a_tampered_blob_is_refused() {
    let dir = scratch("index");
    let layout = dir.join("layout");
    write_layout(
        &layout,
        "1.0",
        &[
            (
                "amd64",
                vec![layer(&[Entry::File("which", b"amd64")])],
                json!({"Cmd": ["x"]}),
            ),
            (
                "arm64",
                vec![layer(&[Entry::File("which", b"arm64")])],
                json!({"Cmd": ["y"]}),
            ),
        ],
        true,
    );
    let l = Layout::open(&layout).unwrap();
    let arm = l.image("1.0", "arm64").unwrap();
    assert!(arm.from_index);
    assert_eq!(arm.config["config"]["Cmd"][0], "y");
    assert_eq!(arm.layers.len(), 1);
    assert_eq!(arm.layers[0].compression, Compression::Gzip);
    let missing = l.image("2.0", "amd64").unwrap_err();
    assert!(
        missing.contains("no image tagged \"2.0\"") && missing.contains("its tags: 1.0"),
        "{missing}"
    );
    assert_eq!(l.only_tag().unwrap(), "1.0");
    // One byte changed in the amd64 layer: refused before anything is unpacked.
    let amd = l.image("1.0", "amd64").unwrap();
    let path = l.blob_path(&amd.layers[0].digest).unwrap();
    let mut bytes = std::fs::read(&path).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    std::fs::write(&path, bytes).unwrap();
    let err = l.image("1.0", "amd64").unwrap_err();
    assert!(err.contains("does not match its digest"), "{err}");
    assert!(
        Layout::open(&dir)
            .unwrap_err()
            .contains("is not an OCI image layout")
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn the_image_env_keeps_lambdas_reserved_variables_and_maps_its_folders() {
    let root = Path::new("/r");
    let p = Process {
        argv: vec!["x".into()],
        working_dir: "/".into(),
        env: vec![
            ("PATH".into(), "/var/lang/bin:/usr/bin".into()),
            ("AWS_REGION".into(), "eu-west-1".into()),
            ("TZ".into(), ":/etc/localtime".into()),
            ("LAMBDA_RUNTIME_DIR".into(), "/var/runtime".into()),
            ("LAMBDA_TASK_ROOT".into(), "/var/task".into()),
            ("LD_LIBRARY_PATH".into(), "/lib64".into()),
            ("OWN".into(), "1".into()),
        ],
    };
    let env = image_env(root, &p);
    let get = |k: &str| env.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    assert!(get("PATH").unwrap().starts_with("/r/var/lang/bin:/r/usr/bin:"));
    assert_eq!(get("LAMBDA_RUNTIME_DIR"), Some("/r/var/runtime"));
    assert_eq!(get("OWN"), Some("1"));
    for reserved in ["AWS_REGION", "TZ", "LAMBDA_TASK_ROOT", "LD_LIBRARY_PATH"] {
        assert_eq!(get(reserved), None, "{reserved}");
    }
}

#[test]
fn a_whiteout_of_dot_or_dot_dot_removes_nothing() {
    let dir = scratch("whiteout-dots");
    std::fs::write(dir.join("beside-the-root"), b"stays").unwrap();
    let base = layer(&[Entry::Dir("a"), Entry::File("a/keep", b"keep")]);
    // `.wh...` hides `..`, `.wh..` hides `.`: neither names an entry of the layers below.
    let upper = layer(&[
        Entry::Raw(".wh...", b""),
        Entry::Raw("a/.wh...", b""),
        Entry::Raw("a/.wh..", b""),
        Entry::Raw(".wh.", b""),
    ]);
    let (root, _) = unpack_all(&dir, vec![base, upper]);
    assert_eq!(std::fs::read(dir.join("beside-the-root")).unwrap(), b"stays");
    assert_eq!(std::fs::read(root.join("a/keep")).unwrap(), b"keep");
    std::fs::remove_dir_all(&dir).unwrap();
}
