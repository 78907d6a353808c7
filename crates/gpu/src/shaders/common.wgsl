// Shared helpers of every kernel (prepended to each shader family).

// Byte `i` of a little-endian byte array held as u32 words.
fn byte_at(i: u32) -> u32 { return 0u; }
