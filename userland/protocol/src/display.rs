//! The display protocol the `gpu` domain serves on its endpoint (named "display" in the
//! description), in the tileos message convention: clients replace
//! the title or a row of the status screen, and the driver redraws and shows it before it
//! answers.

use serde::{Deserialize, Serialize};

/// Most bytes of a title or row (longer text is cut at a character boundary).
pub const MAX_TEXT: usize = 64;

/// The display protocol.
pub struct Display;

impl crate::Protocol for Display {
    const NAME: &'static str = "display";
    type Request = Request;
    type Response = Response;
}

/// What a client asks.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Request {
    /// Replace the text in the title bar.
    SetTitle {
        /// The new title.
        text: heapless::String<MAX_TEXT>,
    },
    /// Replace row `row` (0 = top) of the status rows.
    SetLine {
        /// Row index, below the screen's rows (`tileos_driver_gpu::screen::ROWS`).
        row: u8,
        /// The new text.
        text: heapless::String<MAX_TEXT>,
    },
    /// Ask for the display mode.
    Mode,
}

/// What the `gpu` domain answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Response {
    /// The change is on the screen (transferred to the host and flushed).
    Shown,
    /// The scanout's size.
    Mode {
        /// Width in pixels.
        width: u32,
        /// Height in pixels.
        height: u32,
    },
    /// The request was not carried out.
    Refused(Refusal),
}

/// Why a request was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Refusal {
    /// The row is not below `rows`.
    RowOutOfRange {
        /// The row asked for.
        row: u8,
        /// Rows on the screen.
        rows: u8,
    },
    /// The device failed a command with this response type.
    Device {
        /// The virtio-gpu response type (e.g. 0x1200 ERR_UNSPEC).
        response: u32,
    },
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use crate::{MESSAGE, PAYLOAD_WORDS, decode, encode};

    #[test]
    fn requests_and_answers_travel_in_one_message() {
        let text: heapless::String<MAX_TEXT> = "x".repeat(MAX_TEXT).as_str().try_into().unwrap();
        let request = Request::SetLine { row: 3, text };
        let mut words = [0u64; PAYLOAD_WORDS + 1];
        let length = encode(&request, &mut words).unwrap();
        assert_eq!(decode::<Request>(MESSAGE, &words[..length]), Ok(request));
        let answer = Response::Refused(Refusal::RowOutOfRange { row: 20, rows: 16 });
        let length = encode(&answer, &mut words).unwrap();
        assert_eq!(decode::<Response>(MESSAGE, &words[..length]), Ok(answer));
    }
}
