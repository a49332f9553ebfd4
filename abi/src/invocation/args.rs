//! Argument kinds of invocations: how a field of a typed invocation is laid out in message
//! words or extra capabilities, and how it is read back with the kernel's precise error
//! codes.

use crate::error::{Error, InvocationError};
use crate::object::{ObjectType, Rights};

/// Most message words any invocation reads (TcbWriteRegisters: resume, count and 18
/// registers).
pub const MAX_WORDS: usize = 2 + super::TCB_REGISTER_COUNT;

/// Most extra capabilities any invocation reads.
pub const MAX_CAPS: usize = 3;

/// An invocation's message as the caller sends it: label, argument words, extra
/// capability pointers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Encoded {
    /// The method.
    pub label: super::Label,
    words: [u64; MAX_WORDS],
    length: usize,
    caps: [u64; MAX_CAPS],
    cap_count: usize,
}

impl Encoded {
    /// An empty message with `label`.
    pub const fn new(label: super::Label) -> Encoded {
        Encoded { label, words: [0; MAX_WORDS], length: 0, caps: [0; MAX_CAPS], cap_count: 0 }
    }
    /// The argument words (MR0..).
    pub fn words(&self) -> &[u64] {
        &self.words[..self.length]
    }
    /// The extra capability pointers (cap0..).
    pub fn caps(&self) -> &[u64] {
        &self.caps[..self.cap_count]
    }
}

/// Where an invocation's message is written, in order: argument words and extra capability
/// pointers. [`Encoded`] keeps them; `tileos-sys` stages them straight into registers and
/// the IPC buffer.
pub trait Sink {
    /// Appends an argument word.
    fn word(&mut self, word: u64);
    /// Appends an extra capability pointer.
    fn cap(&mut self, cptr: u64);
}

impl Sink for Encoded {
    #[inline]
    fn word(&mut self, word: u64) {
        self.words[self.length] = word;
        self.length += 1;
    }
    #[inline]
    fn cap(&mut self, cptr: u64) {
        self.caps[self.cap_count] = cptr;
        self.cap_count += 1;
    }
}

/// Reads an invocation's arguments in order, each only when decoding reaches it: words from
/// the message, capability pointers from the extra capabilities. A missing word or
/// capability is `TruncatedMessage`.
pub struct Reader<W: Fn(usize) -> u64, C: Fn(usize) -> u64> {
    length: usize,
    cap_count: usize,
    word_at: W,
    cap_at: C,
    next_word: usize,
    next_cap: usize,
}

impl<W: Fn(usize) -> u64, C: Fn(usize) -> u64> Reader<W, C> {
    /// A reader over a message of `length` words and `cap_count` extra capabilities, read
    /// through `word_at` and `cap_at`.
    #[inline]
    pub fn new(length: usize, cap_count: usize, word_at: W, cap_at: C) -> Reader<W, C> {
        Reader { length, cap_count, word_at, cap_at, next_word: 0, next_cap: 0 }
    }
    /// Index of the next word (the argument index errors name).
    #[inline]
    pub const fn position(&self) -> usize {
        self.next_word
    }
    /// The next word.
    #[inline]
    pub fn word(&mut self) -> Result<u64, Error> {
        if self.next_word >= self.length {
            return Err(Error::new(InvocationError::TruncatedMessage));
        }
        self.next_word += 1;
        Ok((self.word_at)(self.next_word - 1))
    }
    /// The next extra capability pointer.
    #[inline]
    pub fn cap(&mut self) -> Result<u64, Error> {
        if self.next_cap >= self.cap_count {
            return Err(Error::new(InvocationError::TruncatedMessage));
        }
        self.next_cap += 1;
        Ok((self.cap_at)(self.next_cap - 1))
    }
}

/// Where an argument lives, for the documentation table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    /// `n` message words, with the names of their parts when more than one.
    Words(usize, &'static str),
    /// One extra capability.
    Cap,
    /// A count word, then at most `n` more words (the count says how many items follow).
    Counted(&'static str, usize),
}

/// A field type of a typed invocation.
pub trait Argument: Sized {
    /// Its place in the message.
    const LAYOUT: Layout;
    /// Reads it; errors name the word index as the kernel reports it.
    fn decode<W: Fn(usize) -> u64, C: Fn(usize) -> u64>(reader: &mut Reader<W, C>) -> Result<Self, Error>;
    /// Appends it to a message.
    fn encode<S: Sink>(&self, out: &mut S);
}

impl Argument for u64 {
    const LAYOUT: Layout = Layout::Words(1, "");
    #[inline]
    fn decode<W: Fn(usize) -> u64, C: Fn(usize) -> u64>(reader: &mut Reader<W, C>) -> Result<u64, Error> {
        reader.word()
    }
    #[inline]
    fn encode<S: Sink>(&self, out: &mut S) {
        out.word(*self);
    }
}

/// A flag word: any non-zero word is `true`; encoded as 1 or 0.
impl Argument for bool {
    const LAYOUT: Layout = Layout::Words(1, "");
    #[inline]
    fn decode<W: Fn(usize) -> u64, C: Fn(usize) -> u64>(reader: &mut Reader<W, C>) -> Result<bool, Error> {
        reader.word().map(|word| word != 0)
    }
    #[inline]
    fn encode<S: Sink>(&self, out: &mut S) {
        out.word(u64::from(*self));
    }
}

/// A rights word: only the low four bits mean anything.
impl Argument for Rights {
    const LAYOUT: Layout = Layout::Words(1, "");
    #[inline]
    fn decode<W: Fn(usize) -> u64, C: Fn(usize) -> u64>(reader: &mut Reader<W, C>) -> Result<Rights, Error> {
        reader.word().map(Rights::from_word)
    }
    #[inline]
    fn encode<S: Sink>(&self, out: &mut S) {
        out.word(u64::from(self.0));
    }
}

/// An object type word; an unknown type is `InvalidArgument` naming the word.
impl Argument for ObjectType {
    const LAYOUT: Layout = Layout::Words(1, "");
    #[inline]
    fn decode<W: Fn(usize) -> u64, C: Fn(usize) -> u64>(reader: &mut Reader<W, C>) -> Result<ObjectType, Error> {
        let index = reader.position() as u64;
        ObjectType::from_raw(reader.word()?).ok_or(Error::argument(InvocationError::InvalidArgument, index))
    }
    #[inline]
    fn encode<S: Sink>(&self, out: &mut S) {
        out.word(*self as u64);
    }
}

/// A slot named by index and depth in some CNode (two words), resolved exactly (docs/abi.md
/// §5); the kernel checks the depth when it resolves it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Slot {
    /// The capability pointer bits.
    pub index: u64,
    /// How many of them to resolve (1–64).
    pub depth: u64,
}

impl Slot {
    /// The slot at `index` resolved with all 64 bits (a cptr in a CSpace that resolves it
    /// fully, such as the root server's).
    pub const fn at(index: u64) -> Slot {
        Slot { index, depth: 64 }
    }
    /// The slot at `index` resolved with `depth` bits.
    pub const fn new(index: u64, depth: u64) -> Slot {
        Slot { index, depth }
    }
}

impl Argument for Slot {
    const LAYOUT: Layout = Layout::Words(2, "index, depth");
    #[inline]
    fn decode<W: Fn(usize) -> u64, C: Fn(usize) -> u64>(reader: &mut Reader<W, C>) -> Result<Slot, Error> {
        Ok(Slot { index: reader.word()?, depth: reader.word()? })
    }
    #[inline]
    fn encode<S: Sink>(&self, out: &mut S) {
        out.word(self.index);
        out.word(self.depth);
    }
}

/// A capability passed as an extra capability (its cptr in the IPC buffer's
/// `caps_or_badges`), looked up in the caller's CSpace.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CPtr(pub u64);

impl Argument for CPtr {
    const LAYOUT: Layout = Layout::Cap;
    #[inline]
    fn decode<W: Fn(usize) -> u64, C: Fn(usize) -> u64>(reader: &mut Reader<W, C>) -> Result<CPtr, Error> {
        reader.cap().map(CPtr)
    }
    #[inline]
    fn encode<S: Sink>(&self, out: &mut S) {
        out.cap(self.0);
    }
}

/// The registers of TcbWriteRegisters: a count (1–[`super::TCB_REGISTER_COUNT`], else
/// RangeError [1, 18]), then that many values in the order of
/// [`super::TCB_REGISTER_COUNT`]'s documentation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Registers {
    count: usize,
    values: [u64; super::TCB_REGISTER_COUNT],
}

impl Registers {
    /// The first `values.len()` registers (at most 18: extra values are left out).
    pub fn new(values: &[u64]) -> Registers {
        let count = values.len().min(super::TCB_REGISTER_COUNT);
        let mut all = [0; super::TCB_REGISTER_COUNT];
        all[..count].copy_from_slice(&values[..count]);
        Registers { count, values: all }
    }
    /// The register values given.
    pub fn values(&self) -> &[u64] {
        &self.values[..self.count]
    }
}

impl Argument for Registers {
    const LAYOUT: Layout = Layout::Counted("count, then count registers", super::TCB_REGISTER_COUNT);
    #[inline]
    fn decode<W: Fn(usize) -> u64, C: Fn(usize) -> u64>(reader: &mut Reader<W, C>) -> Result<Registers, Error> {
        let count = reader.word()?;
        if count == 0 || count > super::TCB_REGISTER_COUNT as u64 {
            return Err(Error::range(1, super::TCB_REGISTER_COUNT as u64));
        }
        let mut values = [0; super::TCB_REGISTER_COUNT];
        for value in values.iter_mut().take(count as usize) {
            *value = reader.word()?;
        }
        Ok(Registers { count: count as usize, values })
    }
    #[inline]
    fn encode<S: Sink>(&self, out: &mut S) {
        out.word(self.count as u64);
        for value in self.values() {
            out.word(*value);
        }
    }
}

/// Most bytes one `IoPortOutBytes` writes: a 16550 UART's transmit FIFO.
pub const MAX_PORT_BYTES: usize = 16;

/// The bytes of `IoPortOutBytes`: a count (1–[`MAX_PORT_BYTES`], else RangeError [1, 16]),
/// then the bytes packed eight to a word, little-endian (the first byte in the low bits of
/// the first word). Bytes past the count in the last word are ignored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PortBytes {
    count: usize,
    bytes: [u8; MAX_PORT_BYTES],
}

impl PortBytes {
    /// The first `bytes.len()` bytes (at most [`MAX_PORT_BYTES`]: extra bytes are left out,
    /// as with [`Registers::new`]).
    pub fn new(bytes: &[u8]) -> PortBytes {
        let count = bytes.len().min(MAX_PORT_BYTES);
        let mut all = [0; MAX_PORT_BYTES];
        all[..count].copy_from_slice(&bytes[..count]);
        PortBytes { count, bytes: all }
    }
    /// The bytes to write, in order.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes[..self.count]
    }
}

impl Argument for PortBytes {
    const LAYOUT: Layout = Layout::Counted("count, then the bytes packed 8 a word, little-endian", MAX_PORT_BYTES / 8);
    #[inline]
    fn decode<W: Fn(usize) -> u64, C: Fn(usize) -> u64>(reader: &mut Reader<W, C>) -> Result<PortBytes, Error> {
        let count = reader.word()?;
        if count == 0 || count > MAX_PORT_BYTES as u64 {
            return Err(Error::range(1, MAX_PORT_BYTES as u64));
        }
        let mut bytes = [0; MAX_PORT_BYTES];
        for chunk in bytes[..count as usize].chunks_mut(8) {
            let word = reader.word()?.to_le_bytes();
            chunk.copy_from_slice(&word[..chunk.len()]);
        }
        Ok(PortBytes { count: count as usize, bytes })
    }
    #[inline]
    fn encode<S: Sink>(&self, out: &mut S) {
        out.word(self.count as u64);
        for chunk in self.bytes().chunks(8) {
            let mut word = [0; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            out.word(u64::from_le_bytes(word));
        }
    }
}
