//! Links the bare-metal kernel binary with its own link script (docs/build.md); the library
//! stays host-testable.
fn main() {
    tileos_build_support::link_bare_metal_bins("kernel/link.ld");
}
