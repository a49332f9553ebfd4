//! IO port access for user-space drivers: IO port control issues a capability for a port
//! range (ranges never overlap), and in/out invocations check the port against the range
//! (`IoPortOutBytes`: up to 16 bytes to one port in one call).

use super::{Call, Error, Result, ensure_empty};
use crate::arch::cpu;
use crate::state::{KernelMemory, kernel};
use tileos_abi::error::InvocationError;
use tileos_abi::invocation::Invocation;
use tileos_kernel::cap::{self, Cap};
use tileos_kernel::cspace;

fn issued(port: u16) -> bool {
    kernel().io_ports_issued[usize::from(port) / 64] & (1 << (port % 64)) != 0
}

fn mark(first: u16, last: u16, value: bool) {
    for port in first..=last {
        let word = &mut kernel().io_ports_issued[usize::from(port) / 64];
        if value { *word |= 1 << (port % 64) } else { *word &= !(1 << (port % 64)) }
    }
}

/// Ports the kernel itself uses and never hands out: the PICs and the debug-exit device.
/// COM1 may be issued (to the console domain); the kernel then only writes fault reports
/// and its own errors there, interleaved with the console's output.
fn reserved(first: u16, last: u16) -> bool {
    let overlaps = |a: u16, b: u16| first <= b && a <= last;
    overlaps(0x20, 0x21) || overlaps(0xA0, 0xA1) || overlaps(0xF4, 0xF7)
}

/// Runs an IO port control or IO port method.
pub fn invoke(call: &Call, invocation: &Invocation) -> Result<usize> {
    match (call.cap, invocation) {
        (Cap::IoPortControl, Invocation::IoPortControlIssue(issue)) => {
            // The destination slot is resolved from the caller's CSpace.
            let (first, last) = (issue.first, issue.last);
            let dest = call.resolve_slot(call.cspace_root(), issue.dest, false)?;
            if first > last || last > 0xFFFF {
                return Err(Error::range(0, 0xFFFF));
            }
            let (first, last) = (first as u16, last as u16);
            if reserved(first, last) {
                return Err(Error::argument(InvocationError::InvalidArgument, 0));
            }
            if (first..=last).any(issued) {
                return Err(Error::new(InvocationError::RevokeFirst));
            }
            ensure_empty(dest)?;
            mark(first, last, true);
            let range = Cap::IoPort { first, last };
            cspace::insert_derived(&mut KernelMemory, call.slot, dest, range, cap::is_revocable(&range, &call.cap));
            Ok(0)
        }
        (Cap::IoPort { first, last }, invocation) => {
            // Port, width in bytes, and the value of an output.
            let (port, width, output) = match invocation {
                Invocation::IoPortIn8(read) => (read.port, 1, None),
                Invocation::IoPortIn16(read) => (read.port, 2, None),
                Invocation::IoPortIn32(read) => (read.port, 4, None),
                Invocation::IoPortOut8(write) => (write.port, 1, Some(write.value)),
                Invocation::IoPortOut16(write) => (write.port, 2, Some(write.value)),
                Invocation::IoPortOut32(write) => (write.port, 4, Some(write.value)),
                Invocation::IoPortOutBytes(write) => (write.port, 1, None),
                _ => return Err(Error::new(InvocationError::IllegalOperation)),
            };
            if port < u64::from(first) || port.checked_add(width - 1).is_none_or(|end| end > u64::from(last)) {
                return Err(Error::range(u64::from(first), u64::from(last)));
            }
            let port = port as u16;
            // The port range was issued to this capability by IO port control, which never
            // issues the kernel's own ports.
            if let Invocation::IoPortOutBytes(write) = invocation {
                // At most MAX_PORT_BYTES (16) accesses: decoding refused a larger count.
                for &byte in write.bytes.bytes() {
                    cpu::port_out(port, 1, u64::from(byte));
                }
                return Ok(0);
            }
            let Some(value) = output else {
                crate::ipc::set_message_register(call.caller, 0, cpu::port_in(port, width as u8));
                return Ok(1);
            };
            cpu::port_out(port, width as u8, value);
            Ok(0)
        }
        _ => Err(Error::new(InvocationError::IllegalOperation)),
    }
}

/// The last capability to the range is gone: the ports may be issued again.
pub fn release(first: u16, last: u16) {
    mark(first, last, false);
}
