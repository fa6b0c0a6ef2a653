//! Canonical encoding v1 and its hashes; the SQL twins are `enc`, `ts_text`,
//! `payload_hash` and `link_hash` in sql/log.sql. Both are tested against testvectors/.

use sha2::{Digest, Sha256};

pub type Hash = [u8; 32];
pub const ZERO_HASH: Hash = [0; 32];
pub const PAYLOAD_TAG: &[u8] = b"tgal1/payload";
pub const LINK_TAG: &[u8] = b"tgal1/link";
pub const ANCHOR_TAG: &[u8] = b"tgal1/anchor";

/// Microseconds between the Unix epoch and PostgreSQL's (2000-01-01).
pub const PG_EPOCH_OFFSET_MICROS: i64 = 946_684_800_000_000;

/// A field: 0x01, its bytes, 0x00; NULL is the single byte 0x00. Unambiguous because
/// PostgreSQL text never contains a NUL byte (and the SQL twin references each field once).
pub fn enc(out: &mut Vec<u8>, v: Option<&[u8]>) {
    enc_to(&mut |b| out.extend_from_slice(b), v);
}

/// [`enc`] fed to any sink: a buffer, or a hasher that needs no copy of the field.
fn enc_to(put: &mut impl FnMut(&[u8]), v: Option<&[u8]>) {
    match v {
        None => put(&[0]),
        Some(b) => {
            put(&[1]);
            put(b);
            put(&[0]);
        }
    }
}

/// `at` as fixed UTC text with microseconds, e.g. `2024-02-29T23:59:59.000001Z`.
pub fn ts_text(unix_micros: i64) -> String {
    match utc_text(unix_micros) {
        UtcText::Fixed(b) => String::from_utf8(b.to_vec()).expect("ASCII"),
        UtcText::Chrono(s) => s,
    }
}

/// [`ts_text`]'s bytes: on the stack for years 1 to 9999, chrono's text for the others.
enum UtcText {
    Fixed([u8; 27]),
    Chrono(String),
}

impl UtcText {
    fn as_bytes(&self) -> &[u8] {
        match self {
            UtcText::Fixed(b) => b,
            UtcText::Chrono(s) => s.as_bytes(),
        }
    }
}

/// Years 1 to 9999 are formatted here (civil date from the day count, Hinnant's algorithm):
/// chrono's strftime was a tenth of verify's CPU per row. Other years keep chrono's text.
fn utc_text(unix_micros: i64) -> UtcText {
    const DAY: i64 = 86_400_000_000;
    // 0001-01-01T00:00:00Z and 10000-01-01T00:00:00Z in Unix microseconds.
    const FIRST: i64 = -62_135_596_800_000_000;
    const END: i64 = 253_402_300_800_000_000;
    if !(FIRST..END).contains(&unix_micros) {
        return UtcText::Chrono(match chrono::DateTime::from_timestamp_micros(unix_micros) {
            Some(t) => t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string(),
            None => format!("out-of-range:{unix_micros}"),
        });
    }
    let (days, in_day) = (unix_micros.div_euclid(DAY), unix_micros.rem_euclid(DAY));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let secs = in_day / 1_000_000;
    let mut out = [0u8; 27];
    let mut at = 0;
    for (value, width, then) in [
        (year, 4, b'-'),
        (month, 2, b'-'),
        (day, 2, b'T'),
        (secs / 3600, 2, b':'),
        (secs / 60 % 60, 2, b':'),
        (secs % 60, 2, b'.'),
        (in_day % 1_000_000, 6, b'Z'),
    ] {
        for k in (0..width).rev() {
            out[at] = b'0' + (value / 10_i64.pow(k) % 10) as u8;
            at += 1;
        }
        out[at] = then;
        at += 1;
    }
    UtcText::Fixed(out)
}

pub fn payload_bytes(old_value: Option<&[u8]>, new_value: Option<&[u8]>) -> Vec<u8> {
    let mut out = Vec::with_capacity(64 + old_value.map_or(0, <[u8]>::len) + new_value.map_or(0, <[u8]>::len));
    out.extend_from_slice(PAYLOAD_TAG);
    enc(&mut out, old_value);
    enc(&mut out, new_value);
    out
}

/// Hash of the payload (old and new jsonb as PostgreSQL prints them). The chain covers
/// this hash, not the payload, so erasing a payload leaves every link checkable.
pub fn payload_hash(old_value: Option<&[u8]>, new_value: Option<&[u8]>) -> Hash {
    // payload_bytes fed to the hasher piece by piece: no copy of the payload per row.
    let mut h = Sha256::new();
    h.update(PAYLOAD_TAG);
    enc_to(&mut |b| h.update(b), old_value);
    enc_to(&mut |b| h.update(b), new_value);
    h.finalize().into()
}

/// The fields of one sealed event that its link hash covers.
#[derive(Debug, Clone, Copy)]
pub struct Link<'a> {
    pub tenant_id: &'a [u8],
    pub seq: i64,
    pub actor: Option<&'a [u8]>,
    pub action: &'a [u8],
    pub entity: &'a [u8],
    pub entity_id: Option<&'a [u8]>,
    pub at_unix_micros: i64,
    pub txid: i64,
    pub payload_hash: &'a [u8],
}

pub fn link_bytes_into(out: &mut Vec<u8>, prev: &[u8], l: &Link<'_>) {
    out.clear();
    out.extend_from_slice(LINK_TAG);
    out.extend_from_slice(prev);
    out.extend_from_slice(&l.seq.to_be_bytes());
    enc(out, Some(l.tenant_id));
    enc(out, l.actor);
    enc(out, Some(l.action));
    enc(out, Some(l.entity));
    enc(out, l.entity_id);
    enc(out, Some(utc_text(l.at_unix_micros).as_bytes()));
    out.extend_from_slice(&l.txid.to_be_bytes());
    out.extend_from_slice(l.payload_hash);
}

pub fn link_bytes(prev: &[u8], l: &Link<'_>) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    link_bytes_into(&mut out, prev, l);
    out
}

pub fn link_hash(prev: &[u8], l: &Link<'_>) -> Hash {
    Sha256::digest(link_bytes(prev, l)).into()
}

/// The text PostgreSQL's jsonb output gives for `v`: object keys ordered by byte length
/// then bytes, `", "` and `": "` separators, PostgreSQL's string escapes. Numbers are
/// printed as serde_json holds them, which matches PostgreSQL for integers and for
/// decimals written without exponent or trailing zeros (verify never re-encodes: it
/// hashes the text the server prints for the stored jsonb).
pub fn canonical_jsonb(v: &serde_json::Value) -> String {
    let mut out = String::new();
    write_jsonb(&mut out, v);
    out
}

fn write_jsonb(out: &mut String, v: &serde_json::Value) {
    use serde_json::Value;
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(&n.to_string()),
        Value::String(s) => write_string(out, s),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_jsonb(out, item);
            }
            out.push(']');
        }
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort_by(|a, b| a.len().cmp(&b.len()).then_with(|| a.as_bytes().cmp(b.as_bytes())));
            out.push('{');
            for (i, k) in keys.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_string(out, k);
                out.push_str(": ");
                write_jsonb(out, &map[k.as_str()]);
            }
            out.push('}');
        }
    }
}

fn write_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn null_and_empty_differ() {
        let (mut a, mut b) = (vec![], vec![]);
        enc(&mut a, None);
        enc(&mut b, Some(b""));
        assert_ne!(a, b);
    }

    #[test]
    fn timestamps_are_fixed_utc_micros() {
        assert_eq!(ts_text(0), "1970-01-01T00:00:00.000000Z");
        assert_eq!(ts_text(1_709_251_199_000_001), "2024-02-29T23:59:59.000001Z");
    }

    /// The hand-written formatter agrees with chrono's strftime on every kind of instant:
    /// the ends of its range, leap days, centuries, day and second boundaries, negatives.
    #[test]
    fn fast_timestamp_text_matches_chrono() {
        let chrono_text = |us: i64| chrono::DateTime::from_timestamp_micros(us).unwrap().format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string();
        let mut cases = vec![
            0,
            -1,
            1,
            -62_135_596_800_000_000,
            253_402_300_800_000_000 - 1,
            951_782_400_000_000,       // 2000-02-29
            4_107_542_400_000_000 - 1, // 2100-02-28T23:59:59.999999
            -2_203_891_200_000_000,    // 1900-02-28
            1_709_251_199_000_001,
        ];
        // A pseudo-random walk over the whole range (no extra dependency).
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..200_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            cases.push(-62_135_596_800_000_000 + (x % 315_537_897_600_000_000) as i64);
        }
        for us in cases {
            assert_eq!(ts_text(us), chrono_text(us), "{us}");
        }
        // Outside years 1 to 9999: chrono's text, as before.
        assert_eq!(ts_text(253_402_300_800_000_000), chrono_text(253_402_300_800_000_000));
        assert_eq!(ts_text(-62_135_596_800_000_001), chrono_text(-62_135_596_800_000_001));
    }

    #[test]
    fn jsonb_keys_sort_by_length_then_bytes() {
        let v: serde_json::Value = serde_json::from_str(r#"{"bb":1,"a":[true,null],"c":"x\ny"}"#).unwrap();
        assert_eq!(canonical_jsonb(&v), r#"{"a": [true, null], "c": "x\ny", "bb": 1}"#);
    }
}
