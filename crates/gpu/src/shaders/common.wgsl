// Shared helpers of every kernel (prepended to each shader family).

// f32 -> f16 bits, rounding to nearest even (as `half::f16::from_f32`),
// overflow to infinity, f16 subnormals exact. WGSL's pack2x16float leaves
// the rounding to the implementation, so quantizers use this instead.
fn f32_to_f16_bits(x: f32) -> u32 {
    let b = bitcast<u32>(x);
    let sign = (b >> 16u) & 0x8000u;
    let e = (b >> 23u) & 0xffu;
    let m = b & 0x7fffffu;
    if (e == 255u) {
        return sign | 0x7c00u | select(0u, 0x200u | (m >> 13u), m != 0u);
    }
    let ue = i32(e) - 127;
    if (ue > 15) {
        return sign | 0x7c00u;
    }
    if (ue >= -14) {
        let hm = m >> 13u;
        let rest = m & 0x1fffu;
        var h = (u32(ue + 15) << 10u) | hm;
        if (rest > 0x1000u || (rest == 0x1000u && (hm & 1u) == 1u)) {
            h = h + 1u; // a carry moves into the exponent, up to infinity
        }
        return sign | h;
    }
    if (ue < -25) {
        return sign;
    }
    // f16 subnormal: value / 2^-24 = (m | 2^23) * 2^(ue + 1)
    let full = m | 0x800000u;
    let shift = u32(-(ue + 1));
    let hm = full >> shift;
    let rest = full & ((1u << shift) - 1u);
    let half = 1u << (shift - 1u);
    var h = hm;
    if (rest > half || (rest == half && (hm & 1u) == 1u)) {
        h = h + 1u;
    }
    return sign | h;
}

// f16 bits (low 16 bits of `h`) -> f32, exactly.
fn f16_bits_to_f32(h: u32) -> f32 {
    return unpack2x16float(h & 0xffffu).x;
}

// a / b correctly rounded (to nearest even), for a, b > 0 normal f32:
// WGSL's division may be off by 2.5 ulp, and the CPU quantizers' scales
// (amax / 127, 127 / amax) must come out bit for bit. Long division of
// the 24-bit mantissas, 25 quotient bits and a sticky remainder. A result
// outside the normal range is rounded by ldexp (not guaranteed exact).
fn div_rn(a: f32, b: f32) -> f32 {
    let ua = bitcast<u32>(a);
    let ub = bitcast<u32>(b);
    var ma = (ua & 0x7fffffu) | 0x800000u;
    let mb = (ub & 0x7fffffu) | 0x800000u;
    var e = i32((ua >> 23u) & 0xffu) - i32((ub >> 23u) & 0xffu);
    if (ma < mb) {
        ma = ma << 1u;
        e = e - 1;
    }
    var q = 0u;
    var r = ma;
    for (var i = 0u; i < 25u; i = i + 1u) {
        q = q << 1u;
        if (r >= mb) {
            r = r - mb;
            q = q | 1u;
        }
        r = r << 1u;
    }
    var m = q >> 1u;
    if ((q & 1u) == 1u && (r != 0u || (m & 1u) == 1u)) {
        m = m + 1u;
    }
    if (m == 0x1000000u) {
        m = m >> 1u;
        e = e + 1;
    }
    let be = e + 127;
    if (be <= 0 || be >= 255) {
        return ldexp(f32(m), e - 23);
    }
    return bitcast<f32>((u32(be) << 23u) | (m & 0x7fffffu));
}

// The flat index of a workgroup in an [x, y] grid (`kernel::grid`).
fn flat_group(wg: vec3<u32>, n: vec3<u32>) -> u32 {
    return wg.x + wg.y * n.x;
}
