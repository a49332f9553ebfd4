//! What the inference programs share: the loader's check and write of the signed base
//! ([`install_base`]), and for the boot-test clients a call retried while the domain
//! restarts and bytes as hex for event fields (answers hold spaces).
#![no_std]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

extern crate alloc;

use core::fmt;

use tileos_mmio::Mmio;
use tileos_protocol::inference::{BundleFault, Inference, Request, Response, base_region};
use tileos_sys::rpc::{CallError, Client};
use tileos_sys::{log, log_event};

/// A call, retried while the inference domain restarts; any other failure stops the client
/// (`who` names it in the log line).
pub fn call(who: &str, client: &Client<Inference>, request: &Request) -> Response {
    loop {
        match client.call(request) {
            Ok(response) => return response,
            Err(CallError::ServerRestarted) => tileos_sys::yield_now(),
            Err(error) => {
                log!("{who}: FAILED: {request:?}: {error:?}");
                tileos_sys::domain::stop();
            }
        }
    }
}

/// The model loader's first step (docs/inference.md "The signed base"): checks the base's
/// signed `bundle` against the development bundle keys (DEV ONLY) with
/// `tileos_inference::service::check_base_bundle`, and only then writes its file, its
/// length and [`base_region::READY`] last into the shared region "base". A bundle that
/// fails writes nothing of it: the region gets the fault's code and
/// [`base_region::REFUSED`], so every inference domain refuses its requests with
/// `NoBase { fault }`; the log names the fault. Gives the file's length or the fault.
pub fn install_base(region: &Mmio, bundle: &[u8]) -> Result<usize, BundleFault> {
    let trusted = tileos_module_bundle::dev_keys::trusted_bundle_keys().unwrap_or_else(|error| {
        log!("model-loader: the trusted bundle keys do not decode ({error}): the base will be refused");
        alloc::vec::Vec::new()
    });
    let refuse = |fault: BundleFault| {
        region.write64(base_region::FAULT_OFFSET, fault.code());
        region.write64(base_region::READY_OFFSET, base_region::REFUSED);
        log_event!("model-loader.base-refused", fault = DebugText(&fault), bundle_bytes = bundle.len());
        fault
    };
    let file = match tileos_inference::service::check_base_bundle(bundle, &trusted) {
        Ok(file) => file,
        Err((fault, detail)) => {
            log!("model-loader: REFUSED the base's bundle ({} bytes): {fault:?} {}", bundle.len(), detail.as_deref().unwrap_or(""));
            return Err(refuse(fault));
        }
    };
    if base_region::FILE_OFFSET + file.len() > region.len() {
        log!(
            "model-loader: REFUSED the base: region \"base\" is {:#x} bytes; the base needs {:#x} ({} bytes at offset {:#x})",
            region.len(),
            base_region::FILE_OFFSET + file.len(),
            file.len(),
            base_region::FILE_OFFSET
        );
        return Err(refuse(BundleFault::TooLarge));
    }
    region.write_bytes(base_region::FILE_OFFSET, file);
    region.write64(base_region::LENGTH_OFFSET, file.len() as u64);
    region.write64(base_region::READY_OFFSET, base_region::READY);
    log_event!("model-loader.base", bytes = file.len(), bundle_bytes = bundle.len(), paddr = region.paddr().unwrap_or(0));
    Ok(file.len())
}

/// A value's `Debug` form as one event field (a fault's name).
pub struct DebugText<'a, T: fmt::Debug>(pub &'a T);

impl<T: fmt::Debug> fmt::Display for DebugText<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.0)
    }
}

/// Bytes as lowercase hex (an event field without spaces); `-` for none.
pub struct Hex<'a>(pub &'a [u8]);

impl fmt::Display for Hex<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("-");
        }
        for byte in self.0 {
            write!(f, "{byte:02x}")?;
        }
        Ok(())
    }
}
