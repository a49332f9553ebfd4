//! Link arguments for the bare-metal binaries of this package (the `nvme` driver and the
//! `block-check` and `block-stress` clients; shared user-space layout). The library stays host-testable because
//! the arguments apply to binaries only.
fn main() {
    for arg in ["-nostartfiles", "-nostdlib", "-static", "-no-pie", "-Wl,--build-id=none", "-Wl,-z,max-page-size=0x1000", "-Wl,--gc-sections"] {
        println!("cargo:rustc-link-arg-bins={arg}");
    }
    let dir = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    println!("cargo:rustc-link-arg-bins=-T{dir}/../../userland/user.ld");
    println!("cargo:rerun-if-changed=../../userland/user.ld");
}
