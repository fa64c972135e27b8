//! The committed header `capi/include/ds_runtime.h` must be exactly what the
//! pinned cbindgen produces from `capi/src` with `capi/cbindgen.toml`.
//! `DS_BLESS_HEADER=1 cargo test -p ds-capi --test header` rewrites it.

use std::path::Path;

#[test]
fn committed_header_is_current() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let config = cbindgen::Config::from_file(dir.join("cbindgen.toml")).expect("cbindgen.toml");
    let bindings = cbindgen::Builder::new()
        .with_crate(dir)
        .with_config(config)
        .generate()
        .expect("cbindgen generates the header");
    let mut generated = Vec::new();
    bindings.write(&mut generated);
    let path = dir.join("include/ds_runtime.h");
    if std::env::var_os("DS_BLESS_HEADER").is_some_and(|v| v == "1") {
        std::fs::write(&path, &generated).expect("write the header");
        return;
    }
    let committed = std::fs::read(&path).unwrap_or_default();
    if committed != generated {
        let copy = std::env::temp_dir().join("ds_runtime.generated.h");
        std::fs::write(&copy, &generated).expect("write the generated copy");
        panic!(
            "{} is out of date (the generator's output is in {}); run \
             DS_BLESS_HEADER=1 cargo test -p ds-capi --test header and commit it",
            path.display(),
            copy.display()
        );
    }
}
