//! TODO: being written.

/// TODO: being written.
#[derive(Debug)]
pub struct Container;
