//! The host side of the model (issue #17): the generated corpus, the candle reference
//! forward pass, training of the base and of the per-topic LoRA adapters, the recipe
//! manifest, and the bench of the `no_std` core against the reference.
//!
//! Host only: candle never reaches a bare-metal build (docs/inference.md, "Recipe").
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod corpus;
pub mod files;
pub mod manifest;
pub mod model;
pub mod train;
