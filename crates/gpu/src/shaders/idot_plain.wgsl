// The integer dot of four packed i8 lanes in plain i32 arithmetic (devices
// without packed_4x8_integer_dot_product): each lane sign-extended by shifts.
fn idot4(a: u32, b: u32) -> i32 {
    var s = 0;
    for (var k = 0u; k < 4u; k = k + 1u) {
        let sh = 24u - 8u * k;
        s = s + (bitcast<i32>(a << sh) >> 24u) * (bitcast<i32>(b << sh) >> 24u);
    }
    return s;
}
