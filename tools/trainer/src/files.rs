//! A directory of weights files (`weights/`, `build/weights`): reading it and running its
//! models on the `no_std` core, shared by the trainer's commands and its tests.

use std::path::Path;

use tileos_inference::{Catalog, Engine, Error, Generation};

use crate::corpus::Dataset;

/// The file of `dataset`'s weights: `<name>.safetensors`.
pub fn file_name(dataset: Dataset) -> String {
    format!("{}.safetensors", dataset.name())
}

/// Reads `path`, naming it in the error.
pub fn read(path: &Path) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))
}

/// The base's file and every adapter's file of a weights directory.
pub struct WeightsDir {
    /// `base.safetensors`.
    pub base: Vec<u8>,
    /// One file per adapter dataset, in [`Dataset::ALL`] order.
    pub adapters: Vec<(Dataset, Vec<u8>)>,
}

impl WeightsDir {
    /// Reads the files of `dir`.
    pub fn read(dir: &Path) -> Result<Self, String> {
        Ok(WeightsDir {
            base: read(&dir.join(file_name(Dataset::Base)))?,
            adapters: Dataset::ALL[1..].iter().map(|d| Ok((*d, read(&dir.join(file_name(*d)))?))).collect::<Result<_, String>>()?,
        })
    }

    /// A catalog of the adapters, by dataset name.
    pub fn catalog(&self) -> Result<Catalog<'_>, Error> {
        let mut catalog = Catalog::new();
        for (d, bytes) in &self.adapters {
            catalog.insert(d.name(), bytes)?;
        }
        Ok(catalog)
    }
}

/// Answers `prompt` on the core with `dataset`'s weights: the base alone for
/// [`Dataset::Base`], else the base plus that adapter.
pub fn answer<'w>(
    engine: &mut Engine<'w>,
    catalog: &Catalog<'w>,
    dataset: Dataset,
    prompt: &str,
    max_new: usize,
) -> Result<Generation, Error> {
    match dataset {
        Dataset::Base => engine.request_base(prompt.as_bytes(), max_new),
        _ => engine.request(catalog, dataset.name(), prompt.as_bytes(), max_new),
    }
}
