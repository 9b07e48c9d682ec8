//! Link settings that tch's own build script does not provide, and the C header of the FFI.
use std::env;
use std::path::{Path, PathBuf};

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    // Keep the static OpenBLAS's symbols out of executables' dynamic symbol tables: exported, the
    // executable's sgemm_ would take over libtorch_cpu's own (see .cargo/config.toml).
    println!("cargo:rustc-link-arg=-Wl,--exclude-libs,libopenblas.a");
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
        // Where libtorch lives, for the CMake package of static-library consumers.
        println!("cargo:rustc-env=IJKONET_LIBTORCH_LIB={lib}");
        compile_kernels(Path::new(&lib));
    }
    // A versioned SONAME (libijkonet.so.MAJOR): programs record it, so an ABI-breaking release (a new
    // major version) never loads under a program built for the old one. The build tree and the
    // install rules (CMakeLists.txt, Makefile) create the libijkonet.so.MAJOR link next to the file.
    let major = env::var("CARGO_PKG_VERSION_MAJOR").expect("cargo sets the version");
    println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libijkonet.so.{major}");
    generate_header();
}

/// The C++ kernels of csrc/ (src/kernels.rs binds them), compiled against the headers of the
/// libtorch we link: `<libtorch>/include` next to its `lib` directory (the layout of both the
/// libtorch archive and the PyTorch wheel). The C++ ABI flag follows torch-sys (LIBTORCH_CXX11_ABI,
/// default 1: PyTorch 2.11's wheels and archives use the C++11 ABI).
fn compile_kernels(lib: &Path) {
    println!("cargo:rerun-if-changed=csrc");
    println!("cargo:rerun-if-env-changed=LIBTORCH_CXX11_ABI");
    let include = lib.parent().expect("libtorch's lib directory has a parent").join("include");
    let abi = env::var("LIBTORCH_CXX11_ABI").unwrap_or_else(|_| "1".to_string());
    cc::Build::new()
        .cpp(true)
        .pic(true)
        .std("c++17")
        .opt_level(3)
        // libtorch's headers as system headers: their warnings are not ours.
        .flag("-isystem")
        .flag(include.to_str().expect("libtorch's path is UTF-8"))
        .flag(format!("-D_GLIBCXX_USE_CXX11_ABI={abi}"))
        // Lets GCC turn the kernels' branch-free selects and divisions into vector code (no code
        // here reads floating-point exception flags).
        .flag("-fno-trapping-math")
        .flag_if_supported("-Wall")
        .flag_if_supported("-Wextra")
        .file("csrc/kernels.cpp")
        .compile("ijkonet_kernels");
}

/// Generate the C header from src/ffi into OUT_DIR/ijkonet.h. The committed include/ijkonet.h must
/// equal it (tests/header.rs); set IJKONET_UPDATE_HEADER=1 to copy it there.
fn generate_header() {
    println!("cargo:rerun-if-changed=src/ffi");
    println!("cargo:rerun-if-changed=cbindgen.toml");
    println!("cargo:rerun-if-env-changed=IJKONET_UPDATE_HEADER");
    let root = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let mut config = cbindgen::Config::from_file(root.join("cbindgen.toml")).expect("cbindgen.toml is valid");
    let version = |part: &str| env::var(format!("CARGO_PKG_VERSION_{part}")).expect("cargo sets the version");
    config.after_includes = Some(format!(
        "\n/* Version of the library this header belongs to (from Cargo.toml). */\n\
         #define IJKONET_VERSION_MAJOR {}\n#define IJKONET_VERSION_MINOR {}\n#define IJKONET_VERSION_PATCH {}\n\
         #define IJKONET_VERSION_STRING \"{}\"",
        version("MAJOR"),
        version("MINOR"),
        version("PATCH"),
        env::var("CARGO_PKG_VERSION").expect("cargo sets the version"),
    ));
    let bindings = cbindgen::Builder::new()
        .with_config(config)
        .with_src(root.join("src/ffi/mod.rs"))
        .generate()
        .expect("cbindgen could not generate the header from src/ffi");
    let out = PathBuf::from(env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join("ijkonet.h");
    bindings.write_to_file(&out);
    if env::var("IJKONET_UPDATE_HEADER").is_ok_and(|v| v == "1") {
        let committed = root.join("include/ijkonet.h");
        std::fs::create_dir_all(committed.parent().expect("has a parent")).expect("create include/");
        let fresh = std::fs::read(&out).expect("header just written");
        if std::fs::read(&committed).ok().as_deref() != Some(fresh.as_slice()) {
            std::fs::write(&committed, fresh).expect("write include/ijkonet.h");
        }
    }
}
