//! Host tests of the store.
