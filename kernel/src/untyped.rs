//! Retype arithmetic: where in an untyped region new objects go.
//!
//! Objects are allocated upward from a watermark (`free_offset`), each aligned to its own
//! size, so objects never overlap each other or leave their untyped. When an untyped has no
//! children left (all were revoked or deleted), its watermark returns to zero and the
//! memory is reused; the kernel clears every object's memory as it creates it.

use tileos_abi::object::{MAX_CNODE_RADIX, MAX_UNTYPED_BITS, MIN_UNTYPED_BITS, ObjectType};

/// Most objects one retype may create.
pub const MAX_RETYPE_COUNT: u64 = 256;

/// The untyped being retyped, as its capability describes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UntypedState {
    /// Start of the region.
    pub paddr: u64,
    /// log2 of the region size.
    pub size_bits: u32,
    /// Device memory: only frames and smaller untypeds may be made from it.
    pub device: bool,
    /// Retype watermark (bytes from `paddr`).
    pub free_offset: u64,
    /// Whether the untyped still has children in the CDT.
    pub has_children: bool,
}

/// Where a retype places its objects.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetypePlan {
    /// log2 of each object's size in bytes.
    pub object_size_bits: u32,
    /// Physical address of the first object; object `i` is at `first + i << object_size_bits`.
    pub first: u64,
    /// The untyped's watermark after the retype.
    pub new_free_offset: u64,
}

/// Why a retype cannot be done.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RetypeError {
    /// `size_bits` is outside `min..=max` for this object type.
    InvalidSize {
        /// Smallest allowed.
        min: u32,
        /// Largest allowed.
        max: u32,
    },
    /// The object count is zero or above [`MAX_RETYPE_COUNT`].
    InvalidCount,
    /// Device untyped can only become frames or untypeds.
    DeviceMemory,
    /// Not enough room left; `available` bytes remain after alignment.
    NotEnoughMemory {
        /// Bytes still free.
        available: u64,
    },
}

/// Plans the retype of `count` objects of `object` (with `size_bits` for untyped and
/// CNodes) from `untyped`.
pub fn plan(untyped: UntypedState, object: ObjectType, size_bits: u32, count: u64) -> Result<RetypePlan, RetypeError> {
    let (min, max) = match object {
        ObjectType::Untyped => (MIN_UNTYPED_BITS, MAX_UNTYPED_BITS),
        ObjectType::CNode => (1, MAX_CNODE_RADIX),
        _ => (0, 64),
    };
    if size_bits < min || size_bits > max {
        return Err(RetypeError::InvalidSize { min, max });
    }
    if count == 0 || count > MAX_RETYPE_COUNT {
        return Err(RetypeError::InvalidCount);
    }
    if untyped.device && !matches!(object, ObjectType::Untyped | ObjectType::Frame4K | ObjectType::Frame2M) {
        return Err(RetypeError::DeviceMemory);
    }
    let object_size_bits = object.size_bits(size_bits);
    let region = 1u64 << untyped.size_bits;
    let watermark = if untyped.has_children { untyped.free_offset } else { 0 };
    let too_big = RetypeError::NotEnoughMemory { available: region.saturating_sub(watermark) };
    if object_size_bits > untyped.size_bits {
        return Err(too_big);
    }
    let align = 1u64 << object_size_bits;
    // The untyped's base is aligned to its own size, so aligning the offset aligns the address.
    let start = watermark.checked_add(align - 1).ok_or(too_big)? & !(align - 1);
    let needed = count << object_size_bits;
    let end = start.checked_add(needed).ok_or(too_big)?;
    if end > region {
        return Err(RetypeError::NotEnoughMemory { available: region.saturating_sub(start.min(region)) });
    }
    Ok(RetypePlan { object_size_bits, first: untyped.paddr + start, new_free_offset: end })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn untyped(free_offset: u64, has_children: bool) -> UntypedState {
        UntypedState { paddr: 0x40_0000, size_bits: 16, device: false, free_offset, has_children }
    }

    #[test]
    fn objects_are_aligned_above_the_watermark() {
        let plan = plan(untyped(0x20, true), ObjectType::Frame4K, 0, 2).unwrap();
        assert_eq!(plan, RetypePlan { object_size_bits: 12, first: 0x40_1000, new_free_offset: 0x3000 });
    }

    #[test]
    fn watermark_resets_when_no_children_remain() {
        let plan = plan(untyped(0x8000, false), ObjectType::Endpoint, 0, 1).unwrap();
        assert_eq!(plan.first, 0x40_0000);
    }

    #[test]
    fn exhaustion_reports_available_bytes() {
        assert_eq!(plan(untyped(0xF000, true), ObjectType::Frame4K, 0, 2), Err(RetypeError::NotEnoughMemory { available: 0x1000 }));
        assert_eq!(plan(untyped(0, false), ObjectType::Frame2M, 0, 1), Err(RetypeError::NotEnoughMemory { available: 0x10000 }));
    }

    #[test]
    fn sizes_counts_and_device_memory_are_checked() {
        assert_eq!(plan(untyped(0, false), ObjectType::Untyped, 3, 1), Err(RetypeError::InvalidSize { min: 4, max: 47 }));
        assert_eq!(plan(untyped(0, false), ObjectType::CNode, 0, 1), Err(RetypeError::InvalidSize { min: 1, max: 20 }));
        assert_eq!(plan(untyped(0, false), ObjectType::Tcb, 0, 0), Err(RetypeError::InvalidCount));
        let device = UntypedState { device: true, ..untyped(0, false) };
        assert_eq!(plan(device, ObjectType::Tcb, 0, 1), Err(RetypeError::DeviceMemory));
        assert!(plan(device, ObjectType::Frame4K, 0, 1).is_ok());
    }

    #[test]
    fn consecutive_plans_never_overlap() {
        let mut state = untyped(0, false);
        let mut last_end = 0x40_0000;
        for object in [ObjectType::Endpoint, ObjectType::Frame4K, ObjectType::Notification, ObjectType::Tcb, ObjectType::CNode] {
            let plan = plan(state, object, 4, 3).unwrap();
            assert!(plan.first >= last_end, "{object:?} overlaps the previous objects");
            last_end = plan.first + (3 << plan.object_size_bits);
            state = UntypedState { free_offset: plan.new_free_offset, has_children: true, ..state };
        }
    }

    /// The largest size and count are accepted, one more is not; an object as large as the
    /// untyped fits (found untested by `make mutants`).
    #[test]
    fn the_size_and_count_limits_are_inclusive() {
        let state = untyped(0, false);
        let available = Err(RetypeError::NotEnoughMemory { available: 0x10000 });
        assert_eq!(plan(state, ObjectType::CNode, MAX_CNODE_RADIX, 1), available, "radix 20 is a valid size");
        assert_eq!(plan(state, ObjectType::CNode, MAX_CNODE_RADIX + 1, 1), Err(RetypeError::InvalidSize { min: 1, max: 20 }));
        assert!(plan(state, ObjectType::Endpoint, 0, MAX_RETYPE_COUNT).is_ok());
        assert_eq!(plan(state, ObjectType::Endpoint, 0, MAX_RETYPE_COUNT + 1), Err(RetypeError::InvalidCount));
        // An object the untyped's own size fits; one bit more does not.
        assert_eq!(
            plan(state, ObjectType::Untyped, 16, 1),
            Ok(RetypePlan { object_size_bits: 16, first: 0x40_0000, new_free_offset: 0x10000 })
        );
        assert_eq!(plan(state, ObjectType::Untyped, 17, 1), available);
    }
}
