//! Links this package's bare-metal binaries (docs/build.md); the library stays host-testable.
fn main() {
    tileos_build_support::link_bare_metal_bins(tileos_build_support::USER_LINK_SCRIPT);
}
