//! `cargo xtask install --prefix DIR [--destdir DIR] [--libdir NAME] [--debug]`:
//! builds the C library (ds-capi, release profile unless `--debug`) and
//! installs it the way distributions lay libraries out:
//!
//! ```text
//! DESTDIR/PREFIX/LIBDIR/libds_runtime.a
//! DESTDIR/PREFIX/LIBDIR/libds_runtime.so.0.1.0   (soname libds_runtime.so.0)
//! DESTDIR/PREFIX/LIBDIR/libds_runtime.so.0 -> libds_runtime.so.0.1.0
//! DESTDIR/PREFIX/LIBDIR/libds_runtime.so   -> libds_runtime.so.0
//! DESTDIR/PREFIX/include/ds_runtime.h
//! DESTDIR/PREFIX/LIBDIR/pkgconfig/ds-runtime.pc   (prefix=PREFIX, without DESTDIR)
//! ```
//!
//! so `cc app.c $(pkg-config --cflags --libs ds-runtime)` works. The test
//! step `capi-install` ([`check`]) installs into a temporary prefix (and
//! into a DESTDIR staging tree), builds `capi/tests/install/app.c` with
//! pkg-config against the shared and the static library, and runs both.

use std::path::{Path, PathBuf};
use std::process::Command;

const VERSION: &str = env!("CARGO_PKG_VERSION");

/// What to install where.
pub(crate) struct Options {
    prefix: PathBuf,
    destdir: Option<PathBuf>,
    libdir: String,
    release: bool,
}

pub(crate) const USAGE: &str =
    "install --prefix DIR [--destdir DIR] [--libdir NAME] [--debug]\n          \
     build and install libds_runtime, ds_runtime.h and ds-runtime.pc";

/// Parses the arguments after `install`.
pub(crate) fn parse(mut args: impl Iterator<Item = String>) -> Result<Options, String> {
    let mut o = Options {
        prefix: PathBuf::new(),
        destdir: None,
        libdir: String::from("lib"),
        release: true,
    };
    while let Some(a) = args.next() {
        let mut value = |name: &str| args.next().ok_or(format!("{name} needs a value"));
        match a.as_str() {
            "--prefix" => o.prefix = PathBuf::from(value("--prefix")?),
            "--destdir" => o.destdir = Some(PathBuf::from(value("--destdir")?)),
            "--libdir" => o.libdir = value("--libdir")?,
            "--debug" => o.release = false,
            other => return Err(format!("unknown install option {other:?}")),
        }
    }
    if !o.prefix.is_absolute() {
        return Err(String::from("--prefix must be an absolute directory"));
    }
    if o.libdir.is_empty() || Path::new(&o.libdir).is_absolute() || o.libdir.contains("..") {
        return Err(String::from(
            "--libdir must be a directory name under the prefix",
        ));
    }
    Ok(o)
}

fn target_dir(root: &Path) -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(d) => root.join(d),
        None => root.join("target"),
    }
}

fn io(what: &str, path: &Path) -> impl FnOnce(std::io::Error) -> String {
    let shown = format!("{what} {}", path.display());
    move |e| format!("{shown}: {e}")
}

fn copy(from: &Path, to: &Path) -> Result<(), String> {
    std::fs::copy(from, to)
        .map_err(|e| format!("copy {} -> {}: {e}", from.display(), to.display()))?;
    Ok(())
}

fn symlink(target: &str, link: &Path) -> Result<(), String> {
    if link.symlink_metadata().is_ok() {
        std::fs::remove_file(link).map_err(io("remove", link))?;
    }
    std::os::unix::fs::symlink(target, link).map_err(io("symlink", link))
}

/// The pkg-config file for `prefix`.
fn pc_file(root: &Path, o: &Options) -> Result<String, String> {
    let template_path = root.join("capi/ds-runtime.pc.in");
    let template = std::fs::read_to_string(&template_path).map_err(io("read", &template_path))?;
    Ok(template
        .replace("@PREFIX@", &o.prefix.to_string_lossy())
        .replace("@LIBDIR@", &format!("${{exec_prefix}}/{}", o.libdir))
        .replace("@INCLUDEDIR@", "${prefix}/include")
        .replace("@URL@", env!("CARGO_PKG_REPOSITORY"))
        .replace("@VERSION@", VERSION))
}

/// Builds and installs; returns the staged prefix (DESTDIR + PREFIX).
pub(crate) fn install(root: &Path, o: &Options) -> Result<PathBuf, String> {
    let mut build = Command::new("cargo");
    build
        .current_dir(root)
        .args(["build", "-p", "ds-capi", "--lib"]);
    if o.release {
        build.arg("--release");
    }
    crate::run(build)?;
    let built = target_dir(root).join(if o.release { "release" } else { "debug" });
    let staged = match &o.destdir {
        Some(d) => d.join(o.prefix.strip_prefix("/").unwrap_or(&o.prefix)),
        None => o.prefix.clone(),
    };
    let lib = staged.join(&o.libdir);
    let include = staged.join("include");
    let pkgconfig = lib.join("pkgconfig");
    for d in [&lib, &include, &pkgconfig] {
        std::fs::create_dir_all(d).map_err(io("create", d))?;
    }
    let major = VERSION.split('.').next().unwrap_or("0");
    let real = format!("libds_runtime.so.{VERSION}");
    let soname = format!("libds_runtime.so.{major}");
    copy(&built.join("libds_runtime.a"), &lib.join("libds_runtime.a"))?;
    copy(&built.join("libds_runtime.so"), &lib.join(&real))?;
    symlink(&real, &lib.join(&soname))?;
    symlink(&soname, &lib.join("libds_runtime.so"))?;
    copy(
        &root.join("capi/include/ds_runtime.h"),
        &include.join("ds_runtime.h"),
    )?;
    let pc = pkgconfig.join("ds-runtime.pc");
    std::fs::write(&pc, pc_file(root, o)?).map_err(io("write", &pc))?;
    eprintln!("installed ds-runtime {VERSION} into {}", staged.display());
    Ok(staged)
}

/// `cargo xtask install ...`.
pub(crate) fn main(root: &Path, args: impl Iterator<Item = String>) -> Result<(), String> {
    let o = parse(args)?;
    install(root, &o).map(drop)
}

fn output(mut c: Command) -> Result<String, String> {
    let shown = format!("{c:?}");
    let out = c
        .output()
        .map_err(|e| format!("cannot start {shown}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "{shown} failed with {}: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// The `capi-install` test step.
pub(crate) fn check(root: &Path) -> Result<(), String> {
    let tmp = std::env::temp_dir().join(format!("ds-xtask-install-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    let result = check_in(root, &tmp);
    let _ = std::fs::remove_dir_all(&tmp);
    result
}

fn check_in(root: &Path, tmp: &Path) -> Result<(), String> {
    // A packager's staged install: files under DESTDIR, paths without it.
    let staged = install(
        root,
        &Options {
            prefix: PathBuf::from("/usr/local"),
            destdir: Some(tmp.join("stage")),
            libdir: String::from("lib"),
            release: false,
        },
    )?;
    let pc_path = staged.join("lib/pkgconfig/ds-runtime.pc");
    let pc = std::fs::read_to_string(&pc_path).map_err(io("read", &pc_path))?;
    if !pc.contains("prefix=/usr/local\n") || pc.contains(&*tmp.to_string_lossy()) {
        return Err(format!("{} has the wrong prefix:\n{pc}", pc_path.display()));
    }
    // A user's install, used through pkg-config.
    let prefix = tmp.join("usr");
    install(
        root,
        &Options {
            prefix: prefix.clone(),
            destdir: None,
            libdir: String::from("lib"),
            release: false,
        },
    )?;
    let pkg_config = |args: &[&str]| {
        let mut c = Command::new("pkg-config");
        c.args(args)
            .arg("ds-runtime")
            .env("PKG_CONFIG_PATH", prefix.join("lib/pkgconfig"));
        output(c)
    };
    let version = pkg_config(&["--modversion"])?;
    if version != VERSION {
        return Err(format!(
            "pkg-config says version {version}, expected {VERSION}"
        ));
    }
    let app = root.join("capi/tests/install/app.c");
    let cc = std::env::var("CC").unwrap_or_else(|_| String::from("cc"));
    let shared_flags = pkg_config(&["--cflags", "--libs"])?;
    let static_flags = pkg_config(&["--static", "--cflags", "--libs"])?
        .replace("-lds_runtime", "-l:libds_runtime.a");
    for (name, flags) in [("shared", &shared_flags), ("static", &static_flags)] {
        let exe = tmp.join(format!("app-{name}"));
        let mut c = Command::new(&cc);
        c.arg(&app)
            .arg("-o")
            .arg(&exe)
            .args(flags.split_whitespace());
        crate::run(c)?;
        let mut r = Command::new(&exe);
        r.arg(&app);
        if name == "shared" {
            // The installed library is found through the soname link.
            r.env("LD_LIBRARY_PATH", prefix.join("lib"));
        }
        let said = output(r)?;
        eprintln!("app ({name}): {said}");
    }
    Ok(())
}
