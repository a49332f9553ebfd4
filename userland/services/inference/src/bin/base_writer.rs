//! Maps the shared base read-only, as every inference domain does, and writes to it: the
//! write must fault (the supervisor logs the fault with its address) and the base must stay
//! as it was (the boot test asks an inference domain afterwards).
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

extern crate tileos_rt;

use tileos_protocol::inference::base_region;
use tileos_sys::log_event;

tileos_sys::resources! {
    /// What the writer needs from the description.
    struct Resources {
        /// The shared base, mapped read-only.
        base: Region("base"),
    }
}

tileos_sys::entry!(main);

fn main(resources: Resources) -> ! {
    let region = resources.base;
    while region.read64(base_region::READY_OFFSET) != base_region::READY {
        tileos_sys::yield_now();
    }
    let target = region.base() + base_region::FILE_OFFSET;
    log_event!("base-writer.writing", vaddr = target);
    region.write8(base_region::FILE_OFFSET, 0xff);
    // Not reached when the mapping is read-only.
    log_event!("base-writer.WROTE", vaddr = target);
    tileos_sys::domain::stop();
}
