// The integer dot of four packed i8 lanes: WGSL's packed_4x8_integer_dot_product.
fn idot4(a: u32, b: u32) -> i32 {
    return dot4I8Packed(a, b);
}
