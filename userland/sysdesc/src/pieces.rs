//! Records the root server hands a domain in pieces (`supervisor::Request::SlotConfig`,
//! `supervisor::Request::FederationConfig`: the whole encoding's length and the bytes from an
//! offset), joined and decoded by [`read_in_pieces`].

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use serde::de::DeserializeOwned;

/// Asks `piece(offset)` for the record's bytes from `offset` on (it answers the whole
/// length and that piece, or why it could not), from 0 until the whole length has arrived,
/// and decodes the record (postcard). Errors name what was wrong: the answer, a length above
/// `max_bytes`, an empty or overlong piece, or the decoding.
pub fn read_in_pieces<T: DeserializeOwned>(
    max_bytes: usize,
    mut piece: impl FnMut(u32) -> Result<(u32, Vec<u8>), String>,
) -> Result<T, String> {
    let mut bytes = Vec::new();
    loop {
        let (length, next) = piece(bytes.len() as u32)?;
        let length = length as usize;
        if length > max_bytes {
            return Err(format!("{length} bytes, more than {max_bytes}"));
        }
        if bytes.len() == length {
            break;
        }
        if next.is_empty() || bytes.len() + next.len() > length {
            return Err(format!("piece of {} bytes at {} of {length}", next.len(), bytes.len()));
        }
        bytes.extend_from_slice(&next);
    }
    postcard::from_bytes(&bytes).map_err(|e| format!("does not decode: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    /// Serves `record` in pieces of `size` bytes, declaring `length` (and counting calls).
    fn server(record: &[u8], length: u32, size: usize, calls: &mut usize) -> impl FnMut(u32) -> Result<(u32, Vec<u8>), String> {
        let record = record.to_vec();
        move |offset| {
            *calls += 1;
            let from = (offset as usize).min(record.len());
            Ok((length, record[from..(from + size).min(record.len())].to_vec()))
        }
    }

    #[test]
    fn pieces_are_joined_in_order_and_decoded() {
        let value: Vec<String> = vec![String::from("federation"); 40];
        let record = postcard::to_allocvec(&value).unwrap();
        let mut calls = 0;
        let read: Vec<String> = read_in_pieces(1 << 20, server(&record, record.len() as u32, 100, &mut calls)).unwrap();
        assert_eq!(read, value);
        assert_eq!(calls, record.len().div_ceil(100) + 1, "one more call answers the whole length");
        let empty: Vec<u8> = read_in_pieces(16, |_| Ok((1, vec![0]))).unwrap();
        assert!(empty.is_empty(), "the one byte 0 is an empty list");
    }

    #[test]
    fn bad_answers_lengths_pieces_and_records_are_errors() {
        let record = postcard::to_allocvec(&vec![7u32; 10]).unwrap();
        let mut calls = 0;
        let too_long = read_in_pieces::<Vec<u32>>(5, server(&record, record.len() as u32, 4, &mut calls));
        assert_eq!(too_long.unwrap_err(), format!("{} bytes, more than 5", record.len()));
        // A record shorter than it says: an empty piece before the end.
        let short = read_in_pieces::<Vec<u32>>(1 << 20, server(&record, record.len() as u32 + 3, 4, &mut calls));
        assert_eq!(short.unwrap_err(), format!("piece of 0 bytes at {} of {}", record.len(), record.len() + 3));
        // A piece running past the length declared.
        let over = read_in_pieces::<Vec<u32>>(1 << 20, |_| Ok((3, vec![1, 2, 3, 4])));
        assert_eq!(over.unwrap_err(), "piece of 4 bytes at 0 of 3");
        let refused = read_in_pieces::<Vec<u32>>(1 << 20, |_| Err(String::from("Refused(NotFederationDomain)")));
        assert_eq!(refused.unwrap_err(), "Refused(NotFederationDomain)");
        let garbage = read_in_pieces::<Vec<u32>>(1 << 20, |_| Ok((2, vec![0xff, 0xff])));
        assert!(garbage.unwrap_err().starts_with("does not decode: "));
    }
}
