//! Finds the system codec libraries (pkg-config) and compiles each one's C shim against its
//! header: libavif for AVIF originals and output (`cfg(avif)`), libheif for HEIC originals
//! (`cfg(heif)`), libjxl for JPEG XL output (`cfg(jxl)`). Without one, the build goes on without
//! that format (it answers 415, or is not offered) and says so.

/// (cfg, pkg-config name, minimum version, shim, Debian package, what it gives)
const LIBRARIES: [(&str, &str, &str, &str, &str, &str); 3] = [
    ("avif", "libavif", "0.11", "src/pipeline/codec/avif_shim.c", "libavif-dev", "AVIF originals and output"),
    ("heif", "libheif", "1.15", "src/pipeline/codec/heif/heif_shim.c", "libheif-dev", "HEIC originals"),
    ("jxl", "libjxl", "0.7", "src/pipeline/codec/jxl/jxl_shim.c", "libjxl-dev", "JPEG XL output"),
];

fn main() {
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
