//! Without the `tch` feature: nothing (the file exists so `[build-dependencies]` in Cargo.toml
//! can give the host-side `syn` the features the dev-dependencies' proc-macros need, and
//! `cargo build` and `cargo test` then share every compiled dependency).
//!
//! With `tch`: torch-sys tells where libtorch's libraries are (`DEP_TCH_LIBTORCH_LIB`). The
//! binary gets that folder as its run path, so it runs without `LD_LIBRARY_PATH`; it links
//! `libtorch_cuda` explicitly (the linker's `--as-needed` would drop it, since no symbol is
//! named from it, and libtorch would then see no GPU); and the small C++ shim
//! (`src/eval/train/torch/shim.cpp`) for the settings tch does not expose is compiled against
//! the same headers.

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    #[cfg(feature = "tch")]
    libtorch();
}

#[cfg(feature = "tch")]
fn libtorch() {
    use std::path::PathBuf;
    println!("cargo::rerun-if-changed=src/eval/train/torch/shim.cpp");
    println!("cargo::rerun-if-env-changed=EVONAS_LIBTORCH_RPATH");
    let Ok(lib) = std::env::var("DEP_TCH_LIBTORCH_LIB") else {
        panic!("torch-sys did not say where libtorch is (DEP_TCH_LIBTORCH_LIB); build with scripts/libtorch.sh");
    };
    let lib = PathBuf::from(lib);
    // A binary carried to another machine (experiments/gpu_check) finds that machine's
    // libtorch through EVONAS_LIBTORCH_RPATH, searched before the build machine's folder.
    if let Ok(extra) = std::env::var("EVONAS_LIBTORCH_RPATH") {
        println!("cargo::rustc-link-arg=-Wl,-rpath,{extra}");
    }
    println!("cargo::rustc-link-arg=-Wl,-rpath,{}", lib.display());
    if lib.join("libtorch_cuda.so").exists() {
        println!("cargo::rustc-link-arg=-Wl,--no-as-needed,-ltorch_cuda,--as-needed");
    }
    let root = lib.parent().map(PathBuf::from).unwrap_or_default();
    cc::Build::new()
        .cpp(true)
        .pic(true)
        .warnings(false)
        .include(root.join("include"))
        .include(root.join("include/torch/csrc/api/include"))
        .flag("-std=c++17")
        .flag("-D_GLIBCXX_USE_CXX11_ABI=1")
        .flag("-DGLOG_USE_GLOG_EXPORT")
        .file("src/eval/train/torch/shim.cpp")
        .compile("evonas_torch_shim");
}
