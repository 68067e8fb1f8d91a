//! Finds libavif (pkg-config) and compiles the AVIF shim against its header; without it the
//! build goes on without AVIF output (`cfg(avif)` unset) and says so.
fn main() {
    println!("cargo::rustc-check-cfg=cfg(avif)");
    println!("cargo::rerun-if-changed=src/pipeline/encode/avif_shim.c");
    println!("cargo::rerun-if-env-changed=PKG_CONFIG_PATH");
    println!("cargo::rerun-if-env-changed=PKG_CONFIG_LIBDIR");
    // Installing or upgrading libavif-dev changes pkg-config's directories: look again then.
    let dirs = std::process::Command::new("pkg-config").args(["--variable", "pc_path", "pkg-config"]).output();
    let dirs = dirs.map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned()).unwrap_or_default();
    for dir in dirs.split(':').filter(|d| std::path::Path::new(d).is_dir()) {
        println!("cargo::rerun-if-changed={dir}");
    }
    match pkg_config::Config::new().atleast_version("0.11").probe("libavif") {
        Ok(lib) => {
            cc::Build::new()
                .file("src/pipeline/encode/avif_shim.c")
                .includes(&lib.include_paths)
                .warnings(true)
                .compile("image_server_avif");
            println!("cargo::rustc-cfg=avif");
        }
        Err(e) => {
            println!(
                "cargo::warning=no AVIF output: libavif not found ({e}); apt-get install libavif-dev, then rebuild"
            );
        }
    }
}
