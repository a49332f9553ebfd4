//! The `no_std` inference core of issue #17: a tiny decoder-only transformer (the frozen base)
//! plus at most one LoRA adapter, applied at run time per request.
//!
//! The base weights are borrowed read-only from the bytes of their safetensors file
//! ([`Base::parse`]); nothing of the base is copied or modified, so one mapping of the file
//! can serve every request and every adapter. An adapter ([`Adapter::parse`]) is a second,
//! small safetensors file whose low-rank deltas are added to the base's projections during
//! the forward pass. [`Engine`] runs greedy decoding and counts what each adapter swap reads
//! ([`SwapStats`]).
//!
//! The architecture ([`config`]) is fixed here and shared with the host trainer
//! (`tools/trainer`), whose candle forward pass is the reference this core is checked against
//! token for token (the trainer's tests). Everything is `f32`; the only transcendental
//! functions are `libm`'s `expf` and `sqrtf`. See docs/inference.md, "Inference core".
#![no_std]
#![deny(missing_docs)]
#![forbid(unsafe_code)]

extern crate alloc;

pub mod config;
mod engine;
mod error;
pub mod service;
mod weights;

pub use engine::{Catalog, Engine, Generation, SwapStats, check_prompt};
pub use error::Error;
pub use weights::{Adapter, Base};
