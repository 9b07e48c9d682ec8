//! Link settings that tch's own build script does not provide.
use std::env;
use std::path::Path;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    // torch-sys publishes libtorch's lib directory through its `links = "tch"` key.
    println!("cargo:rerun-if-env-changed=DEP_TCH_LIBTORCH_LIB");
    if let Ok(lib) = env::var("DEP_TCH_LIBTORCH_LIB") {
        println!("cargo:rustc-link-search=native={lib}");
        // Binaries, tests, examples and the cdylib find libtorch without LD_LIBRARY_PATH.
        println!("cargo:rustc-link-arg=-Wl,-rpath,{lib}");
        // No symbol of ours references libtorch_cuda: it registers the CUDA backend when loaded.
        // Without --no-as-needed the linker drops it and CUDA is never detected.
        println!("cargo:rustc-link-arg=-Wl,--no-as-needed");
        println!("cargo:rustc-link-arg=-ltorch");
        if Path::new(&lib).join("libtorch_cuda.so").exists() {
            println!("cargo:rustc-link-arg=-ltorch_cuda");
        }
        println!("cargo:rustc-link-arg=-Wl,--as-needed");
    }
    // A SONAME so consumers record `libijkonet.so`, not the build path.
    println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libijkonet.so");
}
