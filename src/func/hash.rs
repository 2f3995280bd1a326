//! `hash_md5(x)`: the MD5 digest (RFC 1321) of a value's text, as Kusto computes it, written
//! out here (a few dozen lines) rather than taken from a crate.

use super::ops::text_of;
use crate::model::{TICKS_PER_SECOND, Value, format_datetime_iso};

/// `hash_md5(source)`: the MD5 digest of the value's text (UTF-8) as 32 lowercase hexadecimal
/// digits. A datetime is hashed in .NET's round-trip form with all seven fractional digits
/// (`2020-01-01T00:00:00.0000000Z`), as Kusto's documented example shows; other values by
/// their `tostring` text, a null as the empty string.
pub fn f_hash_md5(a: &[Value]) -> Value {
    let text = match a.first() {
        Some(v @ Value::DateTime(t)) => round_trip(*t).unwrap_or_else(|| text_of(v).into_owned()),
        Some(v) => text_of(v).into_owned(),
        None => String::new(),
    };
    let digest = md5(text.as_bytes());
    let mut hex = String::with_capacity(32);
    for b in digest {
        hex.push_str(&format!("{b:02x}"));
    }
    Value::str(hex)
}

/// A datetime as .NET's "o" format writes it: `yyyy-MM-ddTHH:mm:ss.fffffffZ`; `None` at the
/// very ends of the range, whose whole second does not fit.
fn round_trip(ticks: i64) -> Option<String> {
    let frac = ticks.rem_euclid(TICKS_PER_SECOND);
    let iso = format_datetime_iso(ticks.checked_sub(frac)?);
    let base = iso.strip_suffix('Z').unwrap_or(&iso);
    Some(format!("{base}.{frac:07}Z"))
}

/// K[i] = floor(abs(sin(i + 1)) * 2^32), the RFC's table.
const K: [u32; 64] = [
    0xd76a_a478,
    0xe8c7_b756,
    0x2420_70db,
    0xc1bd_ceee,
    0xf57c_0faf,
    0x4787_c62a,
    0xa830_4613,
    0xfd46_9501,
    0x6980_98d8,
    0x8b44_f7af,
    0xffff_5bb1,
    0x895c_d7be,
    0x6b90_1122,
    0xfd98_7193,
    0xa679_438e,
    0x49b4_0821,
    0xf61e_2562,
    0xc040_b340,
    0x265e_5a51,
    0xe9b6_c7aa,
    0xd62f_105d,
    0x0244_1453,
    0xd8a1_e681,
    0xe7d3_fbc8,
    0x21e1_cde6,
    0xc337_07d6,
    0xf4d5_0d87,
    0x455a_14ed,
    0xa9e3_e905,
    0xfcef_a3f8,
    0x676f_02d9,
    0x8d2a_4c8a,
    0xfffa_3942,
    0x8771_f681,
    0x6d9d_6122,
    0xfde5_380c,
    0xa4be_ea44,
    0x4bde_cfa9,
    0xf6bb_4b60,
    0xbebf_bc70,
    0x289b_7ec6,
    0xeaa1_27fa,
    0xd4ef_3085,
    0x0488_1d05,
    0xd9d4_d039,
    0xe6db_99e5,
    0x1fa2_7cf8,
    0xc4ac_5665,
    0xf429_2244,
    0x432a_ff97,
    0xab94_23a7,
    0xfc93_a039,
    0x655b_59c3,
    0x8f0c_cc92,
    0xffef_f47d,
    0x8584_5dd1,
    0x6fa8_7e4f,
    0xfe2c_e6e0,
    0xa301_4314,
    0x4e08_11a1,
    0xf753_7e82,
    0xbd3a_f235,
    0x2ad7_d2bb,
    0xeb86_d391,
];

/// The rotation of each of the 64 steps.
const S: [u32; 64] = [
    7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 5, 9, 14, 20, 5, 9, 14, 20, 5, 9,
    14, 20, 5, 9, 14, 20, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 6, 10, 15,
    21, 6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21,
];

/// The MD5 digest of `data` (RFC 1321).
pub fn md5(data: &[u8]) -> [u8; 16] {
    let mut h: [u32; 4] = [0x6745_2301, 0xefcd_ab89, 0x98ba_dcfe, 0x1032_5476];
    let mut msg = data.to_vec();
    let bit_len = (data.len() as u64).wrapping_mul(8);
    msg.push(0x80);
    while msg.len() % 64 != 56 {
        msg.push(0);
    }
    msg.extend_from_slice(&bit_len.to_le_bytes());
    for chunk in msg.chunks_exact(64) {
        let mut m = [0u32; 16];
        for (i, w) in chunk.chunks_exact(4).enumerate() {
            m[i] = u32::from_le_bytes([w[0], w[1], w[2], w[3]]);
        }
        let [mut a, mut b, mut c, mut d] = h;
        for i in 0..64 {
            let (f, g) = match i / 16 {
                0 => ((b & c) | (!b & d), i),
                1 => ((d & b) | (!d & c), (5 * i + 1) % 16),
                2 => (b ^ c ^ d, (3 * i + 5) % 16),
                _ => (c ^ (b | !d), (7 * i) % 16),
            };
            let rotated = a
                .wrapping_add(f)
                .wrapping_add(K[i])
                .wrapping_add(m[g])
                .rotate_left(S[i]);
            a = d;
            d = c;
            c = b;
            b = b.wrapping_add(rotated);
        }
        h[0] = h[0].wrapping_add(a);
        h[1] = h[1].wrapping_add(b);
        h[2] = h[2].wrapping_add(c);
        h[3] = h[3].wrapping_add(d);
    }
    let mut out = [0u8; 16];
    for (i, word) in h.iter().enumerate() {
        out[i * 4..i * 4 + 4].copy_from_slice(&word.to_le_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::parse_datetime;

    fn hex(s: &str) -> String {
        match f_hash_md5(&[Value::str(s)]) {
            Value::String(h) => h.to_string(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_rfc_test_suite() {
        assert_eq!(hex(""), "d41d8cd98f00b204e9800998ecf8427e");
        assert_eq!(hex("a"), "0cc175b9c0f1b6a831c399e269772661");
        assert_eq!(hex("abc"), "900150983cd24fb0d6963f7d28e17f72");
        assert_eq!(hex("message digest"), "f96b697d7cb7938d525a2f31aaf161d0");
        assert_eq!(
            hex("abcdefghijklmnopqrstuvwxyz"),
            "c3fcd3d76192e4007dfb496cca67e13b"
        );
        assert_eq!(
            hex("12345678901234567890123456789012345678901234567890123456789012345678901234567890"),
            "57edf4a22be3c955ac49da2e2107b67a"
        );
    }

    #[test]
    fn kusto_documented_examples() {
        assert_eq!(hex("World"), "f5a7924e621e84c9280a9a27e1bcb7f6");
        assert_eq!(hex("TEXAS"), "3b00dbe6e07e7485a1c12d36c8e9910a");
        assert_eq!(hex("KANSAS"), "e1338d0ac8be43846cf9ae967bd02e7f");
        let t = parse_datetime("2020-01-01").map(Value::DateTime);
        assert_eq!(
            f_hash_md5(&[t.unwrap_or(Value::Null)]),
            Value::str("786c530672d1f8db31fee25ea8a9390b")
        );
        // A datetime at the end of the range is hashed by its text, without overflow.
        assert!(matches!(
            f_hash_md5(&[Value::DateTime(i64::MIN)]),
            Value::String(_)
        ));
        // Multi-byte text is hashed as UTF-8.
        assert_eq!(hex("é"), "66ddcd97cfdeabb2f6fb8a999b4bc76f");
    }
}
