//! Build script of ds-capi: gives libds_runtime.so its soname, so programs
//! linked against it record `libds_runtime.so.0` (the ABI major version)
//! and `cargo xtask install` can lay out the usual
//! libds_runtime.so -> .so.0 -> .so.0.1.0 links.

fn main() {
    let major = std::env::var("CARGO_PKG_VERSION_MAJOR").expect("cargo sets the version");
    println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libds_runtime.so.{major}");
    println!("cargo:rerun-if-changed=build.rs");
}
