//! Finds the system codec libraries (pkg-config) and compiles each one's C shim against its
//! header: libavif for AVIF originals and output (`cfg(avif)`), libheif for HEIC originals
//! (`cfg(heif)`), libjxl for JPEG XL output (`cfg(jxl)`). Without one, the build goes on without
//! that format (it answers 415, or is not offered) and says so. Also finds the face detector's
//! model file in the `rustface` package that cargo unpacked, for `include_bytes!`.

use std::path::{Path, PathBuf};

/// (cfg, pkg-config name, minimum version, shim, Debian package, what it gives)
const LIBRARIES: [(&str, &str, &str, &str, &str, &str); 3] = [
    ("avif", "libavif", "0.11", "src/pipeline/codec/avif_shim.c", "libavif-dev", "AVIF originals and output"),
    ("heif", "libheif", "1.15", "src/pipeline/codec/heif/heif_shim.c", "libheif-dev", "HEIC originals"),
    ("jxl", "libjxl", "0.7", "src/pipeline/codec/jxl/jxl_shim.c", "libjxl-dev", "JPEG XL output"),
];

fn main() {
    face_model();
    println!("cargo::rerun-if-env-changed=PKG_CONFIG_PATH");
    println!("cargo::rerun-if-env-changed=PKG_CONFIG_LIBDIR");
    // Installing or upgrading a -dev package changes pkg-config's directories: look again then.
    let dirs = std::process::Command::new("pkg-config").args(["--variable", "pc_path", "pkg-config"]).output();
    let dirs = dirs.map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned()).unwrap_or_default();
    for dir in dirs.split(':').filter(|d| std::path::Path::new(d).is_dir()) {
        println!("cargo::rerun-if-changed={dir}");
    }
    for (cfg, name, version, shim, package, gives) in LIBRARIES {
        println!("cargo::rustc-check-cfg=cfg({cfg})");
        println!("cargo::rerun-if-changed={shim}");
        match pkg_config::Config::new().atleast_version(version).probe(name) {
            Ok(lib) => {
                cc::Build::new()
                    .file(shim)
                    .includes(&lib.include_paths)
                    .warnings(true)
                    .compile(&format!("image_server_{cfg}"));
                println!("cargo::rustc-cfg={cfg}");
            }
            Err(e) => {
                println!("cargo::warning=no {gives}: {name} not found ({e}); apt-get install {package}, then rebuild");
            }
        }
    }
}

/// The version of `rustface` in Cargo.toml (pinned with `=`): its package holds the model.
const RUSTFACE: &str = "rustface-0.1.7";
/// The SeetaFace frontal model's path inside that package (BSD-2-Clause, 1.2 MB).
const MODEL: &str = "model/seeta_fd_frontal_v1.0.bin";

/// Points `FACE_MODEL` at the SeetaFace model that the `rustface` package ships, so that the
/// detector's weights are compiled in and nothing is read or downloaded at run time. Looks in
/// `IMAGE_SERVER_FACE_MODEL` (a file), then in cargo's unpacked registry sources (`$CARGO_HOME`,
/// default `~/.cargo`), then asks `cargo metadata` where the package is (vendored or patched
/// sources). Cargo has downloaded and unpacked every dependency before any build script runs.
fn face_model() {
    println!("cargo::rerun-if-env-changed=IMAGE_SERVER_FACE_MODEL");
    println!("cargo::rerun-if-env-changed=CARGO_HOME");
    let explicit = std::env::var_os("IMAGE_SERVER_FACE_MODEL").map(PathBuf::from);
    let found = explicit.clone().or_else(in_registry).or_else(from_metadata);
    match found {
        Some(path) if path.is_file() => {
            println!("cargo::rerun-if-changed={}", path.display());
            println!("cargo::rustc-env=FACE_MODEL={}", path.display());
        }
        _ => panic!(
            "the face detector's model ({MODEL} in the {RUSTFACE} package) was not found{}: run \
             `cargo fetch`, or set IMAGE_SERVER_FACE_MODEL to the file",
            explicit.map(|p| format!(" at {}", p.display())).unwrap_or_default()
        ),
    }
}

/// `$CARGO_HOME/registry/src/<index>/rustface-<version>/model/...`.
fn in_registry() -> Option<PathBuf> {
    let home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cargo")))?;
    let mut indexes: Vec<PathBuf> =
        std::fs::read_dir(home.join("registry/src")).ok()?.flatten().map(|e| e.path()).collect();
    indexes.sort();
    indexes.into_iter().map(|index| index.join(RUSTFACE).join(MODEL)).find(|p| p.is_file())
}

/// The package's directory as `cargo metadata` reports it.
fn from_metadata() -> Option<PathBuf> {
    let cargo = std::env::var_os("CARGO")?;
    let manifest = std::env::var_os("CARGO_MANIFEST_PATH")?;
    let out = std::process::Command::new(cargo)
        .args(["metadata", "--offline", "--format-version", "1", "--manifest-path"])
        .arg(manifest)
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    text.split("\"manifest_path\":\"").skip(1).filter_map(|rest| rest.split('"').next()).find_map(|manifest| {
        let dir = Path::new(manifest).parent()?;
        let name = dir.file_name()?.to_str()?;
        (name == RUSTFACE || name == "rustface").then(|| dir.join(MODEL)).filter(|p| p.is_file())
    })
}
