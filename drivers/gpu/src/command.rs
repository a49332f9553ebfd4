//! virtio-gpu control commands: their encoding into the request buffer the device reads,
//! and the responses it writes back.
//!
//! Reference: Virtual I/O Device (VIRTIO) Version 1.1, §5.7.6 (GPU device operation).
//! Every structure is little-endian and starts with the 24-byte `virtio_gpu_ctrl_hdr`
//! (type, flags, fence id, context id, ring index, padding).

/// Bytes of the control header.
pub const HEADER_LEN: usize = 24;
/// Most memory entries of a backing (one per shared region of the framebuffer).
pub const MAX_BACKING: usize = 8;
/// Largest request the driver sends (RESOURCE_ATTACH_BACKING with [`MAX_BACKING`] entries).
pub const MAX_REQUEST: usize = HEADER_LEN + 8 + 16 * MAX_BACKING;
/// Scanouts in a display-info response.
pub const MAX_SCANOUTS: usize = 16;
/// Bytes of the display-info response (header and 16 scanouts of 24 bytes).
pub const DISPLAY_INFO_LEN: usize = HEADER_LEN + 24 * MAX_SCANOUTS;

/// Command types.
pub mod kind {
    /// Asks for the scanouts and their preferred modes.
    pub const GET_DISPLAY_INFO: u32 = 0x0100;
    /// Creates a 2D resource on the host.
    pub const RESOURCE_CREATE_2D: u32 = 0x0101;
    /// Shows a resource (or nothing) on a scanout.
    pub const SET_SCANOUT: u32 = 0x0103;
    /// Tells the host a rectangle of a resource changed.
    pub const RESOURCE_FLUSH: u32 = 0x0104;
    /// Copies a rectangle from guest backing memory into the host resource.
    pub const TRANSFER_TO_HOST_2D: u32 = 0x0105;
    /// Gives a resource guest memory as backing store.
    pub const RESOURCE_ATTACH_BACKING: u32 = 0x0106;
}

/// Response types.
pub mod response {
    /// Success without data.
    pub const OK_NODATA: u32 = 0x1100;
    /// Success with the display information.
    pub const OK_DISPLAY_INFO: u32 = 0x1101;
    /// Unspecified error.
    pub const ERR_UNSPEC: u32 = 0x1200;
    /// Out of host memory.
    pub const ERR_OUT_OF_MEMORY: u32 = 0x1201;
    /// No such scanout.
    pub const ERR_INVALID_SCANOUT_ID: u32 = 0x1202;
    /// No such resource.
    pub const ERR_INVALID_RESOURCE_ID: u32 = 0x1203;
    /// No such context.
    pub const ERR_INVALID_CONTEXT_ID: u32 = 0x1204;
    /// A parameter is out of range.
    pub const ERR_INVALID_PARAMETER: u32 = 0x1205;
}

/// Pixel format `VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM`: bytes blue, green, red, unused, i.e.
/// a little-endian `u32` of `0x00RRGGBB`.
pub const FORMAT_B8G8R8X8: u32 = 2;

/// A rectangle in pixels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rect {
    /// Left edge.
    pub x: u32,
    /// Top edge.
    pub y: u32,
    /// Width.
    pub width: u32,
    /// Height.
    pub height: u32,
}

impl Rect {
    /// The rectangle of `width` by `height` at the origin.
    pub fn sized(width: u32, height: u32) -> Rect {
        Rect { x: 0, y: 0, width, height }
    }
}

/// Guest memory backing a resource: up to [`MAX_BACKING`] physically contiguous ranges
/// (shared regions) that are mapped one after the other in the driver's address space, so
/// the driver draws into one virtually contiguous framebuffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Backing {
    entries: [(u64, u32); MAX_BACKING],
    count: usize,
    vaddr: u64,
    bytes: u64,
}

/// Why regions cannot form one framebuffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BackingError {
    /// No region.
    Empty,
    /// More than [`MAX_BACKING`] regions.
    TooMany,
    /// Region `index` is not mapped right after the previous one (or is 4 GiB or more).
    NotAdjacent {
        /// Index of the region.
        index: usize,
    },
}

impl Backing {
    /// The backing made of `regions` (user address, physical address, bytes), which must
    /// follow each other in the driver's address space.
    pub fn from_regions(regions: impl IntoIterator<Item = (u64, u64, u64)>) -> Result<Backing, BackingError> {
        let mut backing = Backing { entries: [(0, 0); MAX_BACKING], count: 0, vaddr: 0, bytes: 0 };
        for (index, (vaddr, paddr, size)) in regions.into_iter().enumerate() {
            if index == MAX_BACKING {
                return Err(BackingError::TooMany);
            }
            if index == 0 {
                backing.vaddr = vaddr;
            }
            let length = u32::try_from(size).map_err(|_| BackingError::NotAdjacent { index })?;
            if vaddr != backing.vaddr + backing.bytes {
                return Err(BackingError::NotAdjacent { index });
            }
            backing.entries[index] = (paddr, length);
            backing.count += 1;
            backing.bytes += size;
        }
        if backing.count == 0 { Err(BackingError::Empty) } else { Ok(backing) }
    }

    /// The (physical address, length) entries.
    pub fn entries(&self) -> &[(u64, u32)] {
        &self.entries[..self.count]
    }

    /// Where the framebuffer starts in the driver's address space.
    pub fn vaddr(&self) -> u64 {
        self.vaddr
    }

    /// Bytes in all.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }
}

/// A control command.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Command {
    /// `VIRTIO_GPU_CMD_GET_DISPLAY_INFO`.
    GetDisplayInfo,
    /// `VIRTIO_GPU_CMD_RESOURCE_CREATE_2D`.
    ResourceCreate2d {
        /// Resource ID (non-zero, chosen by the driver).
        resource: u32,
        /// Pixel format.
        format: u32,
        /// Width in pixels.
        width: u32,
        /// Height in pixels.
        height: u32,
    },
    /// `VIRTIO_GPU_CMD_RESOURCE_ATTACH_BACKING`.
    AttachBacking {
        /// Resource ID.
        resource: u32,
        /// The guest memory, in order.
        backing: Backing,
    },
    /// `VIRTIO_GPU_CMD_SET_SCANOUT`.
    SetScanout {
        /// Scanout index.
        scanout: u32,
        /// Part of the resource shown.
        rect: Rect,
        /// Resource ID (0 turns the scanout off).
        resource: u32,
    },
    /// `VIRTIO_GPU_CMD_TRANSFER_TO_HOST_2D`.
    TransferToHost2d {
        /// Resource ID.
        resource: u32,
        /// The rectangle copied.
        rect: Rect,
        /// Byte offset in the backing memory of the rectangle's top-left pixel.
        offset: u64,
    },
    /// `VIRTIO_GPU_CMD_RESOURCE_FLUSH`.
    ResourceFlush {
        /// Resource ID.
        resource: u32,
        /// The rectangle that changed.
        rect: Rect,
    },
}

/// Writes `value`'s little-endian bytes at `*at` and advances it.
fn put(out: &mut [u8], at: &mut usize, value: &[u8]) {
    out[*at..*at + value.len()].copy_from_slice(value);
    *at += value.len();
}

fn put_rect(out: &mut [u8], at: &mut usize, rect: Rect) {
    for value in [rect.x, rect.y, rect.width, rect.height] {
        put(out, at, &value.to_le_bytes());
    }
}

impl Command {
    /// The command type.
    pub fn kind(&self) -> u32 {
        match self {
            Command::GetDisplayInfo => kind::GET_DISPLAY_INFO,
            Command::ResourceCreate2d { .. } => kind::RESOURCE_CREATE_2D,
            Command::AttachBacking { .. } => kind::RESOURCE_ATTACH_BACKING,
            Command::SetScanout { .. } => kind::SET_SCANOUT,
            Command::TransferToHost2d { .. } => kind::TRANSFER_TO_HOST_2D,
            Command::ResourceFlush { .. } => kind::RESOURCE_FLUSH,
        }
    }

    /// Encodes the request into `out` (header with no fence, then the body); returns its
    /// length in bytes.
    pub fn encode(&self, out: &mut [u8; MAX_REQUEST]) -> usize {
        out.fill(0);
        let mut at = 0;
        put(out, &mut at, &self.kind().to_le_bytes());
        at = HEADER_LEN;
        match *self {
            Command::GetDisplayInfo => {}
            Command::ResourceCreate2d { resource, format, width, height } => {
                for value in [resource, format, width, height] {
                    put(out, &mut at, &value.to_le_bytes());
                }
            }
            Command::AttachBacking { resource, backing } => {
                put(out, &mut at, &resource.to_le_bytes());
                put(out, &mut at, &(backing.entries().len() as u32).to_le_bytes());
                for &(address, length) in backing.entries() {
                    put(out, &mut at, &address.to_le_bytes());
                    put(out, &mut at, &length.to_le_bytes());
                    at += 4; // padding
                }
            }
            Command::SetScanout { scanout, rect, resource } => {
                put_rect(out, &mut at, rect);
                put(out, &mut at, &scanout.to_le_bytes());
                put(out, &mut at, &resource.to_le_bytes());
            }
            Command::TransferToHost2d { resource, rect, offset } => {
                put_rect(out, &mut at, rect);
                put(out, &mut at, &offset.to_le_bytes());
                put(out, &mut at, &resource.to_le_bytes());
                at += 4; // padding
            }
            Command::ResourceFlush { resource, rect } => {
                put_rect(out, &mut at, rect);
                put(out, &mut at, &resource.to_le_bytes());
                at += 4; // padding
            }
        }
        at
    }

    /// Bytes of the response buffer the command needs.
    pub fn response_len(&self) -> usize {
        match self {
            Command::GetDisplayInfo => DISPLAY_INFO_LEN,
            _ => HEADER_LEN,
        }
    }

    /// The response type that means success.
    pub fn expected_response(&self) -> u32 {
        match self {
            Command::GetDisplayInfo => response::OK_DISPLAY_INFO,
            _ => response::OK_NODATA,
        }
    }
}

/// The response type in a response's header (0 if fewer than 4 bytes were written).
pub fn response_kind(bytes: &[u8]) -> u32 {
    bytes.get(..4).map_or(0, |word| u32::from_le_bytes(word.try_into().unwrap_or([0; 4])))
}

/// A readable name for a response type, for logs.
pub fn response_name(kind: u32) -> &'static str {
    match kind {
        response::OK_NODATA => "OK_NODATA",
        response::OK_DISPLAY_INFO => "OK_DISPLAY_INFO",
        response::ERR_UNSPEC => "ERR_UNSPEC",
        response::ERR_OUT_OF_MEMORY => "ERR_OUT_OF_MEMORY",
        response::ERR_INVALID_SCANOUT_ID => "ERR_INVALID_SCANOUT_ID",
        response::ERR_INVALID_RESOURCE_ID => "ERR_INVALID_RESOURCE_ID",
        response::ERR_INVALID_CONTEXT_ID => "ERR_INVALID_CONTEXT_ID",
        response::ERR_INVALID_PARAMETER => "ERR_INVALID_PARAMETER",
        _ => "unknown response",
    }
}

/// The first enabled scanout in a display-info response and its preferred mode, or `None`
/// if the response is short or no scanout is enabled.
pub fn first_enabled_scanout(bytes: &[u8]) -> Option<(u32, Rect)> {
    if bytes.len() < DISPLAY_INFO_LEN || response_kind(bytes) != response::OK_DISPLAY_INFO {
        return None;
    }
    let word = |at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap_or([0; 4]));
    (0..MAX_SCANOUTS).find_map(|index| {
        let at = HEADER_LEN + 24 * index;
        let rect = Rect { x: word(at), y: word(at + 4), width: word(at + 8), height: word(at + 12) };
        (word(at + 16) != 0 && rect.width > 0 && rect.height > 0).then_some((index as u32, rect))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(bytes: &[u8]) -> Vec<u32> {
        bytes.chunks(4).map(|chunk| u32::from_le_bytes(chunk.try_into().unwrap())).collect()
    }

    fn encoded(command: Command) -> Vec<u32> {
        let mut out = [0u8; MAX_REQUEST];
        let length = command.encode(&mut out);
        words(&out[..length])
    }

    #[test]
    fn requests_have_the_specified_layouts() {
        assert_eq!(encoded(Command::GetDisplayInfo), [0x100, 0, 0, 0, 0, 0]);
        assert_eq!(
            encoded(Command::ResourceCreate2d { resource: 1, format: FORMAT_B8G8R8X8, width: 800, height: 600 }),
            [0x101, 0, 0, 0, 0, 0, 1, 2, 800, 600]
        );
        let one = Backing::from_regions([(0x5100_0000, 0x1_2345_6000, 0xFA000)]).unwrap();
        assert_eq!(encoded(Command::AttachBacking { resource: 1, backing: one }), [0x106, 0, 0, 0, 0, 0, 1, 1, 0x2345_6000, 1, 0xFA000, 0]);
        let two = Backing::from_regions([(0x5100_0000, 0x800_0000, 0x1000), (0x5100_1000, 0x900_0000, 0x2000)]).unwrap();
        assert_eq!(
            encoded(Command::AttachBacking { resource: 7, backing: two }),
            [0x106, 0, 0, 0, 0, 0, 7, 2, 0x800_0000, 0, 0x1000, 0, 0x900_0000, 0, 0x2000, 0]
        );
        assert_eq!(
            encoded(Command::SetScanout { scanout: 0, rect: Rect::sized(800, 600), resource: 1 }),
            [0x103, 0, 0, 0, 0, 0, 0, 0, 800, 600, 0, 1]
        );
        assert_eq!(
            encoded(Command::TransferToHost2d { resource: 1, rect: Rect { x: 8, y: 16, width: 32, height: 4 }, offset: 0x1_0000_0020 }),
            [0x105, 0, 0, 0, 0, 0, 8, 16, 32, 4, 0x20, 1, 1, 0]
        );
        assert_eq!(
            encoded(Command::ResourceFlush { resource: 1, rect: Rect::sized(800, 600) }),
            [0x104, 0, 0, 0, 0, 0, 0, 0, 800, 600, 1, 0]
        );
        // The sizes the device checks: struct sizes from the specification.
        let lengths: Vec<usize> = [
            Command::GetDisplayInfo,
            Command::ResourceCreate2d { resource: 1, format: 2, width: 1, height: 1 },
            Command::AttachBacking { resource: 1, backing: Backing::from_regions([(0, 0, 0x1000)]).unwrap() },
            Command::SetScanout { scanout: 0, rect: Rect::sized(1, 1), resource: 1 },
            Command::TransferToHost2d { resource: 1, rect: Rect::sized(1, 1), offset: 0 },
            Command::ResourceFlush { resource: 1, rect: Rect::sized(1, 1) },
        ]
        .iter()
        .map(|command| command.encode(&mut [0; MAX_REQUEST]))
        .collect();
        assert_eq!(lengths, [24, 40, 48, 48, 56, 48]);
    }

    #[test]
    fn backing_needs_adjacent_regions() {
        let four = Backing::from_regions((0..4).map(|n| (0x5100_0000 + n * 0xFA000, 0x1000_0000 * (4 - n), 0xFA000))).unwrap();
        assert_eq!(four.entries().len(), 4);
        assert_eq!(four.entries()[3], (0x1000_0000, 0xFA000));
        assert_eq!((four.vaddr(), four.bytes()), (0x5100_0000, 4 * 0xFA000));
        assert_eq!(Backing::from_regions([]), Err(BackingError::Empty));
        assert_eq!(
            Backing::from_regions([(0x5100_0000, 0, 0x1000), (0x5100_2000, 0, 0x1000)]),
            Err(BackingError::NotAdjacent { index: 1 })
        );
        assert_eq!(Backing::from_regions((0..9).map(|n| (n * 0x1000, 0, 0x1000))), Err(BackingError::TooMany));
        assert_eq!(Backing::from_regions([(0, 0, 1 << 32)]), Err(BackingError::NotAdjacent { index: 0 }));
    }

    #[test]
    fn display_info_gives_the_first_enabled_scanout() {
        let mut bytes = [0u8; DISPLAY_INFO_LEN];
        bytes[..4].copy_from_slice(&response::OK_DISPLAY_INFO.to_le_bytes());
        assert_eq!(first_enabled_scanout(&bytes), None);
        // Scanout 1 enabled at 1024x768 (scanout 0 has a mode but is disabled).
        let mut set = |index: usize, values: [u32; 5]| {
            for (n, value) in values.iter().enumerate() {
                let at = HEADER_LEN + 24 * index + 4 * n;
                bytes[at..at + 4].copy_from_slice(&value.to_le_bytes());
            }
        };
        set(0, [0, 0, 640, 480, 0]);
        set(1, [0, 0, 1024, 768, 1]);
        assert_eq!(first_enabled_scanout(&bytes), Some((1, Rect::sized(1024, 768))));
        assert_eq!(first_enabled_scanout(&bytes[..100]), None);
        bytes[..4].copy_from_slice(&response::ERR_UNSPEC.to_le_bytes());
        assert_eq!(first_enabled_scanout(&bytes), None);
        assert_eq!(response_name(response_kind(&bytes)), "ERR_UNSPEC");
    }
}
