//! CRC-32 as zlib computes it (IEEE 802.3 polynomial, reflected, initial value and final XOR
//! `0xFFFF_FFFF`; the catalogue's CRC-32/ISO-HDLC). Every function continues a running CRC:
//! `update(update(0, a), b) == update(0, a ‖ b)`, and `update(0, bytes)` is the CRC of
//! `bytes`.

/// The reflected IEEE polynomial.
pub const POLYNOMIAL: u32 = 0xEDB8_8320;

/// One bit at a time: the definition, with no tables.
pub fn bitwise(crc: u32, bytes: &[u8]) -> u32 {
    let mut register = !crc;
    for &byte in bytes {
        register ^= u32::from(byte);
        for _ in 0..8 {
            let low_bit_set = register & 1 != 0;
            register >>= 1;
            if low_bit_set {
                register ^= POLYNOMIAL;
            }
        }
    }
    !register
}

/// The eight tables of slice-by-8: `TABLES[0][b]` is the CRC register after shifting byte
/// `b` through (the classic byte table), `TABLES[k][b]` the same followed by `k` zero bytes.
pub const TABLES: [[u32; 256]; 8] = tables();

const fn tables() -> [[u32; 256]; 8] {
    let mut tables = [[0u32; 256]; 8];
    let mut byte = 0;
    while byte < 256 {
        let mut register = byte as u32;
        let mut bit = 0;
        while bit < 8 {
            register = if register & 1 != 0 { (register >> 1) ^ POLYNOMIAL } else { register >> 1 };
            bit += 1;
        }
        tables[0][byte] = register;
        byte += 1;
    }
    let mut table = 1;
    while table < 8 {
        let mut byte = 0;
        while byte < 256 {
            let previous = tables[table - 1][byte];
            tables[table][byte] = (previous >> 8) ^ tables[0][(previous & 0xff) as usize];
            byte += 1;
        }
        table += 1;
    }
    tables
}

/// Slice-by-8: eight bytes per step through [`TABLES`], the tail a byte at a time.
pub fn slice_by_8(crc: u32, bytes: &[u8]) -> u32 {
    let mut register = !crc;
    let mut chunks = bytes.chunks_exact(8);
    for chunk in &mut chunks {
        let low = register ^ u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
        let high = u32::from_le_bytes([chunk[4], chunk[5], chunk[6], chunk[7]]);
        register = TABLES[7][(low & 0xff) as usize]
            ^ TABLES[6][((low >> 8) & 0xff) as usize]
            ^ TABLES[5][((low >> 16) & 0xff) as usize]
            ^ TABLES[4][(low >> 24) as usize]
            ^ TABLES[3][(high & 0xff) as usize]
            ^ TABLES[2][((high >> 8) & 0xff) as usize]
            ^ TABLES[1][((high >> 16) & 0xff) as usize]
            ^ TABLES[0][(high >> 24) as usize];
    }
    for &byte in chunks.remainder() {
        register = (register >> 8) ^ TABLES[0][((register ^ u32::from(byte)) & 0xff) as usize];
    }
    !register
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_check_value() {
        // The catalogue's check value: CRC of the ASCII digits 1 to 9.
        assert_eq!(bitwise(0, b"123456789"), 0xCBF4_3926);
        assert_eq!(slice_by_8(0, b"123456789"), 0xCBF4_3926);
        assert_eq!(bitwise(0, b""), 0);
        assert_eq!(slice_by_8(0, b""), 0);
    }

    #[test]
    fn the_first_table_is_the_classic_byte_table() {
        assert_eq!(TABLES[0][1], 0x7707_3096);
        assert_eq!(TABLES[0][255], 0x2D02_EF8D);
    }
}
