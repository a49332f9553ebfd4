//! Every way a weights file or a request is refused.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

/// Why the core refused a weights file or a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Error {
    /// The safetensors container itself is malformed (header length, JSON, offsets); `file`
    /// names which file (`base` or `adapter`).
    Format {
        /// `base` or `adapter`.
        file: &'static str,
        /// The safetensors crate's description of the fault.
        detail: String,
    },
    /// A tensor the architecture needs is absent.
    MissingTensor {
        /// `base` or `adapter`.
        file: &'static str,
        /// The tensor's name.
        name: String,
    },
    /// A tensor the architecture does not have is present (a file for another model).
    UnexpectedTensor {
        /// `base` or `adapter`.
        file: &'static str,
        /// The tensor's name.
        name: String,
    },
    /// A tensor is not little-endian `f32`.
    WrongDtype {
        /// `base` or `adapter`.
        file: &'static str,
        /// The tensor's name.
        name: String,
    },
    /// A tensor's shape differs from the architecture's.
    WrongShape {
        /// `base` or `adapter`.
        file: &'static str,
        /// The tensor's name.
        name: String,
        /// The shape the architecture needs.
        expected: Vec<usize>,
        /// The shape in the file.
        found: Vec<usize>,
    },
    /// A weight is NaN or infinite.
    NonFinite {
        /// `base` or `adapter`.
        file: &'static str,
        /// The tensor's name.
        name: String,
        /// The element's index within the tensor.
        index: usize,
    },
    /// The prompt is empty.
    EmptyPrompt,
    /// The prompt is longer than [`crate::config::MAX_PROMPT`] bytes.
    PromptTooLong {
        /// The prompt's length in bytes.
        len: usize,
        /// The longest prompt accepted.
        max: usize,
    },
    /// A prompt byte is not printable ASCII.
    PromptByte {
        /// Its index in the prompt.
        index: usize,
        /// The byte.
        byte: u8,
    },
    /// The request names a topic the catalog has no adapter for.
    UnknownTopic {
        /// The topic named (lossily decoded if not UTF-8).
        topic: String,
    },
    /// The catalog already holds an adapter for this topic.
    DuplicateTopic {
        /// The topic named.
        topic: String,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Format { file, detail } => write!(f, "{file} weights: malformed safetensors: {detail}"),
            Error::MissingTensor { file, name } => write!(f, "{file} weights: tensor `{name}` missing"),
            Error::UnexpectedTensor { file, name } => {
                write!(f, "{file} weights: tensor `{name}` is not part of the model")
            }
            Error::WrongDtype { file, name } => write!(f, "{file} weights: tensor `{name}` is not F32"),
            Error::WrongShape { file, name, expected, found } => {
                write!(f, "{file} weights: tensor `{name}` has shape {found:?}, expected {expected:?}")
            }
            Error::NonFinite { file, name, index } => {
                write!(f, "{file} weights: tensor `{name}` element {index} is not finite")
            }
            Error::EmptyPrompt => write!(f, "prompt is empty"),
            Error::PromptTooLong { len, max } => write!(f, "prompt is {len} bytes, at most {max} allowed"),
            Error::PromptByte { index, byte } => {
                write!(f, "prompt byte {index} is {byte:#04x}, not printable ASCII")
            }
            Error::UnknownTopic { topic } => write!(f, "no adapter for topic `{topic}`"),
            Error::DuplicateTopic { topic } => write!(f, "topic `{topic}` already has an adapter"),
        }
    }
}
