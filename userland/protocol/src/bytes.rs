//! Byte strings in one piece: `#[serde(with = "crate::bytes")]` on a `heapless::Vec<u8, N>`
//! field serializes it with `serialize_bytes` and reads it back with `deserialize_bytes`.
//!
//! postcard writes a byte string exactly as it writes a sequence of `u8` (a varint length,
//! then the raw bytes), so the wire format is unchanged; what changes is the work: the
//! bytes are copied as one slice instead of being pushed and checked one at a time (a 768-
//! byte chunk's encode and decode was ≈ 34,000 host instructions that way, `docs/slots.md`
//! "Bench figures", `slots30`). Formats that give a sequence instead (serde_json's arrays)
//! are read too.
//!
//! Used on the two bulk requests of the slots' paths whose cost was measured: the
//! supervisor's `SeatChunk` (decoded by the root server) and the slots' `InstallChunk`
//! (decoded by the slot manager). Other byte fields keep serde's sequence (not measured;
//! decoding through `with` may take a little more stack, which matters in domains with the
//! default 16 KiB: `gpu-status` had no margin left and now has 32 KiB).

use core::fmt;
use core::marker::PhantomData;
use heapless::Vec;
use serde::de::{Error, SeqAccess, Visitor};
use serde::{Deserializer, Serializer};

/// Serializes `bytes` as one byte string.
pub fn serialize<S: Serializer, const N: usize>(bytes: &Vec<u8, N>, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_bytes(bytes)
}

/// Reads a byte string of at most `N` bytes; a longer one is an error (`invalid_length`).
pub fn deserialize<'de, D: Deserializer<'de>, const N: usize>(deserializer: D) -> Result<Vec<u8, N>, D::Error> {
    deserializer.deserialize_bytes(BytesVisitor::<N>(PhantomData))
}

/// Collects a byte string (or a sequence of bytes) into a `Vec<u8, N>`.
struct BytesVisitor<const N: usize>(PhantomData<[u8; N]>);

impl<'de, const N: usize> Visitor<'de> for BytesVisitor<N> {
    type Value = Vec<u8, N>;

    fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        write!(formatter, "at most {N} bytes")
    }

    fn visit_bytes<E: Error>(self, bytes: &[u8]) -> Result<Self::Value, E> {
        Vec::from_slice(bytes).map_err(|()| E::invalid_length(bytes.len(), &self))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut bytes = Vec::new();
        while let Some(byte) = seq.next_element::<u8>()? {
            bytes.push(byte).map_err(|_| A::Error::invalid_length(N + 1, &self))?;
        }
        Ok(bytes)
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use heapless::Vec;
    use proptest::prelude::*;
    use serde::{Deserialize, Serialize};

    /// A field as a sequence of `u8` (serde's default for a `Vec`).
    #[derive(Serialize, Deserialize, Debug, PartialEq)]
    struct AsSequence {
        tag: u8,
        bytes: Vec<u8, 768>,
    }

    /// The same field as one byte string.
    #[derive(Serialize, Deserialize, Debug, PartialEq)]
    struct AsBytes {
        tag: u8,
        #[serde(with = "crate::bytes")]
        bytes: Vec<u8, 768>,
    }

    /// The postcard encoding of `value`.
    fn wire<T: Serialize>(value: &T) -> std::vec::Vec<u8> {
        let mut buffer = [0u8; 1024];
        postcard::to_slice(value, &mut buffer).unwrap().to_vec()
    }

    #[test]
    fn a_longer_byte_string_than_the_field_holds_is_refused() {
        let long = AsSequence { tag: 1, bytes: Vec::from_slice(&[7; 768]).unwrap() };
        let wire = wire(&long);
        #[derive(Deserialize, Debug)]
        struct Short {
            _tag: u8,
            #[serde(with = "crate::bytes")]
            _bytes: Vec<u8, 767>,
        }
        assert!(postcard::from_bytes::<Short>(&wire).is_err());
    }

    #[test]
    fn a_chunk_round_trips_through_message_words() {
        use crate::supervisor::{Request, SEAT_CHUNK};
        let bytes = Vec::from_iter((0..SEAT_CHUNK).map(|index| (index * 31 % 251) as u8));
        let request = Request::SeatChunk { seat: 3, offset: 0x1234, bytes };
        let mut words = [0; crate::PAYLOAD_WORDS + 1];
        let length = crate::encode(&request, &mut words).unwrap();
        assert_eq!(crate::decode::<Request>(crate::MESSAGE, &words[..length]), Ok(request));
    }

    proptest! {
        /// The wire format is postcard's sequence of `u8`, byte for byte, both ways.
        #[test]
        fn the_wire_format_is_the_sequences(tag in any::<u8>(), bytes in proptest::collection::vec(any::<u8>(), 0..=768)) {
            let bytes = Vec::<u8, 768>::from_slice(&bytes).unwrap();
            let sequence = wire(&AsSequence { tag, bytes: bytes.clone() });
            let whole = wire(&AsBytes { tag, bytes: bytes.clone() });
            prop_assert_eq!(&sequence, &whole);
            prop_assert_eq!(postcard::from_bytes::<AsBytes>(&sequence).unwrap(), AsBytes { tag, bytes: bytes.clone() });
            prop_assert_eq!(postcard::from_bytes::<AsSequence>(&whole).unwrap(), AsSequence { tag, bytes });
        }
    }
}
