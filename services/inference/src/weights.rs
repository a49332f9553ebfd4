//! Checked views of the base and adapter safetensors files, borrowed from their bytes.
//!
//! Parsing checks the container (with the `safetensors` crate), that the set of tensors is
//! exactly the architecture's, every dtype (F32) and shape, and that every weight is finite;
//! the base's views copy nothing: they read little-endian `f32`s straight from the file's
//! bytes. An adapter (6,144 weights) is copied into the domain's memory.

use alloc::string::{String, ToString};
use alloc::vec::Vec;
use safetensors::{Dtype, SafeTensors};

use crate::config::{self, N_LAYERS};
use crate::error::Error;

/// A row-major `f32` matrix (a vector is one row) borrowed from a weights file.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Matrix<'w> {
    data: &'w [u8],
    cols: usize,
}

impl<'w> Matrix<'w> {
    /// Element `(row, col)`.
    pub(crate) fn at(&self, row: usize, col: usize) -> f32 {
        let i = 4 * (row * self.cols + col);
        f32::from_le_bytes([self.data[i], self.data[i + 1], self.data[i + 2], self.data[i + 3]])
    }

    /// Row `row` as a dot product with `x` (`x.len()` columns).
    pub(crate) fn dot_row(&self, row: usize, x: &[f32]) -> f32 {
        let start = 4 * row * self.cols;
        let bytes = &self.data[start..start + 4 * self.cols];
        let mut sum = 0.0f32;
        for (chunk, xi) in bytes.chunks_exact(4).zip(x) {
            sum += f32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]) * xi;
        }
        sum
    }

    /// `out = self · x` for a [rows, cols] matrix.
    pub(crate) fn matvec(&self, x: &[f32], out: &mut [f32]) {
        for (row, o) in out.iter_mut().enumerate() {
            *o = self.dot_row(row, x);
        }
    }
}

/// The checked tensors of one safetensors file, by the architecture's names.
struct Checked<'w> {
    tensors: Vec<(String, Matrix<'w>)>,
    bytes: usize,
}

impl<'w> Checked<'w> {
    fn parse(file: &'static str, bytes: &'w [u8], names: &[(String, Vec<usize>)]) -> Result<Self, Error> {
        let st = SafeTensors::deserialize(bytes).map_err(|e| Error::Format { file, detail: e.to_string() })?;
        for name in st.names() {
            if !names.iter().any(|(n, _)| n == name) {
                return Err(Error::UnexpectedTensor { file, name: name.clone() });
            }
        }
        let mut tensors = Vec::with_capacity(names.len());
        for (name, shape) in names {
            let view = st.tensor(name).map_err(|_| Error::MissingTensor { file, name: name.clone() })?;
            if view.dtype() != Dtype::F32 {
                return Err(Error::WrongDtype { file, name: name.clone() });
            }
            let found = view.shape().to_vec();
            if &found != shape {
                return Err(Error::WrongShape { file, name: name.clone(), expected: shape.clone(), found });
            }
            let data = view.data();
            if let Some(index) = data.chunks_exact(4).position(|c| !f32::from_le_bytes([c[0], c[1], c[2], c[3]]).is_finite()) {
                return Err(Error::NonFinite { file, name: name.clone(), index });
            }
            let cols = *shape.last().unwrap_or(&1);
            tensors.push((name.clone(), Matrix { data, cols }));
        }
        Ok(Checked { tensors, bytes: bytes.len() })
    }

    /// The next tensor in the order of `names` given to [`Checked::parse`].
    fn take(&mut self, i: &mut usize) -> Matrix<'w> {
        let m = self.tensors[*i].1;
        *i += 1;
        m
    }
}

/// One transformer block of the base.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Block<'w> {
    pub(crate) norm1: Matrix<'w>,
    pub(crate) norm2: Matrix<'w>,
    /// `qkv`, `out`, `fc1`, `fc2`, as [`config::PROJECTIONS`].
    pub(crate) proj: [Matrix<'w>; 4],
}

/// The frozen base model, borrowed read-only from its safetensors file.
#[derive(Clone, Debug)]
pub struct Base<'w> {
    pub(crate) tok_emb: Matrix<'w>,
    pub(crate) pos_emb: Matrix<'w>,
    pub(crate) blocks: Vec<Block<'w>>,
    pub(crate) norm_f: Matrix<'w>,
    pub(crate) head: Matrix<'w>,
    bytes: usize,
}

impl<'w> Base<'w> {
    /// Checks `bytes` as the base's safetensors file ([`config::base_names`]) and borrows it.
    pub fn parse(bytes: &'w [u8]) -> Result<Self, Error> {
        let mut c = Checked::parse("base", bytes, &config::base_names())?;
        let mut i = 0;
        let tok_emb = c.take(&mut i);
        let pos_emb = c.take(&mut i);
        let mut blocks = Vec::with_capacity(N_LAYERS);
        for _ in 0..N_LAYERS {
            let norm1 = c.take(&mut i);
            let norm2 = c.take(&mut i);
            let proj = [c.take(&mut i), c.take(&mut i), c.take(&mut i), c.take(&mut i)];
            blocks.push(Block { norm1, norm2, proj });
        }
        let norm_f = c.take(&mut i);
        let head = c.take(&mut i);
        Ok(Base { tok_emb, pos_emb, blocks, norm_f, head, bytes: c.bytes })
    }

    /// Size of the weights file in bytes (all of it was read once, by [`Base::parse`]).
    pub fn file_bytes(&self) -> usize {
        self.bytes
    }
}

/// A row-major `f32` matrix copied out of an adapter file (an adapter lives in its
/// domain's memory, the base stays in its file's frames).
#[derive(Clone, Debug)]
pub(crate) struct OwnedMatrix {
    data: Vec<f32>,
    cols: usize,
}

impl OwnedMatrix {
    fn copy_of(m: &Matrix<'_>) -> Self {
        let data = m.data.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
        OwnedMatrix { data, cols: m.cols }
    }

    /// `out = self · x` for a [rows, cols] matrix, summed in the order of [`Matrix::matvec`].
    pub(crate) fn matvec(&self, x: &[f32], out: &mut [f32]) {
        for (row, o) in out.iter_mut().enumerate() {
            let mut sum = 0.0f32;
            for (w, xi) in self.data[row * self.cols..(row + 1) * self.cols].iter().zip(x) {
                sum += w * xi;
            }
            *o = sum;
        }
    }
}

/// The LoRA pair of one projection: the delta is `LORA_SCALE * b (a x)`.
#[derive(Clone, Debug)]
pub(crate) struct LoraPair {
    pub(crate) a: OwnedMatrix,
    pub(crate) b: OwnedMatrix,
}

/// One topic's LoRA adapter, checked and copied out of its safetensors file (6,144 `f32`s,
/// so that a domain can keep it after the file's bytes are gone).
#[derive(Clone, Debug)]
pub struct Adapter {
    /// Per layer, per projection (as [`config::PROJECTIONS`]).
    pub(crate) layers: Vec<[LoraPair; 4]>,
    bytes: usize,
}

impl Adapter {
    /// Checks `bytes` as an adapter's safetensors file ([`config::adapter_names`]) and copies
    /// its weights. This reads every byte of the file (header, bounds, finiteness of every
    /// weight).
    pub fn parse(bytes: &[u8]) -> Result<Self, Error> {
        let mut c = Checked::parse("adapter", bytes, &config::adapter_names())?;
        let mut i = 0;
        let mut layers = Vec::with_capacity(N_LAYERS);
        for _ in 0..N_LAYERS {
            let mut pair = || LoraPair { a: OwnedMatrix::copy_of(&c.take(&mut i)), b: OwnedMatrix::copy_of(&c.take(&mut i)) };
            let layer = [pair(), pair(), pair(), pair()];
            layers.push(layer);
        }
        Ok(Adapter { layers, bytes: c.bytes })
    }

    /// Size of the adapter's file in bytes: what a swap to it reads.
    pub fn file_bytes(&self) -> usize {
        self.bytes
    }
}
