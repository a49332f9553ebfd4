//! The loader of the boot test `base-refused` (docs/inference.md "The signed base"): the
//! model loader's first step, [`tileos_service_inference::install_base`], given the base's
//! genuine signed bundle with one weight byte flipped after signing. The check must refuse
//! it, write nothing of it into the region "base" and mark the region refused, so that the
//! inference domain serves no base.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

extern crate alloc;
extern crate tileos_rt;

use tileos_sys::log;

tileos_sys::resources! {
    /// What the loader needs from the description.
    struct Resources {
        /// The shared base, mapped read-write here only.
        base: Region("base"),
    }
}

tileos_sys::entry!(main);

/// The base's bundle, tampered with after signing (built by `build.rs`).
static TAMPERED: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/base-tampered.bundle"));

fn main(resources: Resources) -> ! {
    if tileos_service_inference::install_base(&resources.base, TAMPERED).is_ok() {
        log!("tampered-base-loader: FAILED: the tampered base was installed");
    }
    tileos_sys::domain::stop();
}
