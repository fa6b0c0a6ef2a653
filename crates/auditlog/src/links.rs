//! The links verify reads before the log rows: link_run's runs expanded into one compact
//! record per link, looked up by row id.
//!
//! verify used to have the server join every link to its log row; that hash join (spilling
//! to disk past work_mem) cost the server as much again as reading the log itself. The runs
//! are few and narrow, so verify reads them first into this index and joins each log row to
//! its links as the rows stream in.

use std::collections::HashMap;

use crate::copy_rows::RawRow;

// Column order of the run COPY (verify.rs): link_run as stored.
pub const R_TENANT: usize = 0;
const R_FIRST_SEQ: usize = 1;
const R_PREV_HASH: usize = 2;
const R_IDS: usize = 3;
const R_PAYLOAD_HASHES: usize = 4;
const R_HASHES: usize = 5;

/// A stored hash; `ok` is false when the stored value was not 32 bytes (then its real
/// bytes are in [`LinkIndex::odd`], so a tampered value is hashed and compared as stored).
#[derive(Clone, Copy)]
struct H32 {
    b: [u8; 32],
    ok: bool,
}

impl H32 {
    fn from(v: &[u8]) -> Self {
        match <[u8; 32]>::try_from(v) {
            Ok(b) => H32 { b, ok: true },
            Err(_) => H32 { b: [0; 32], ok: false },
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub enum Field {
    PayloadHash,
    Prev,
    Hash,
}

pub struct LinkRec {
    /// Interned tenant of the link (verify's `Tenants`).
    pub tenant: u32,
    pub seq: i64,
    pub id: i64,
    payload_hash: H32,
    prev: H32,
    hash: H32,
}

#[derive(Default)]
pub struct LinkIndex {
    pub recs: Vec<LinkRec>,
    /// (row id, index into recs), sorted: a row id may have several links (a forgery).
    by_id: Vec<(i64, u32)>,
    /// Stored hashes that were not 32 bytes long, by (link, field).
    odd: HashMap<(u32, Field), Vec<u8>>,
}

impl LinkIndex {
    /// Add the links of one run row of the COPY; `tenant` is its interned tenant id. A link's
    /// prev is the run's prev_hash for the first, else the hash before it. Arrays of unequal
    /// length (the table's CHECK dropped) give empty hashes, which match nothing.
    pub fn push_run(&mut self, tenant: u32, row: &RawRow) -> Result<(), String> {
        let ids = array_elements(row.get(R_IDS))?;
        let payload_hashes = array_elements(row.get(R_PAYLOAD_HASHES))?;
        let hashes = array_elements(row.get(R_HASHES))?;
        let first_seq = row.i64(R_FIRST_SEQ).unwrap_or(0);
        let mut prev = row.get(R_PREV_HASH).unwrap_or_default();
        for (k, id) in ids.iter().enumerate() {
            let i = self.recs.len() as u32;
            let hash = hashes.get(k).copied().flatten().unwrap_or_default();
            let mut keep = |f: Field, v: &[u8]| {
                let h = H32::from(v);
                if !h.ok {
                    self.odd.insert((i, f), v.to_vec());
                }
                h
            };
            let rec = LinkRec {
                tenant,
                seq: first_seq + k as i64,
                id: id.and_then(|b| b.try_into().ok()).map(i64::from_be_bytes).unwrap_or(0),
                payload_hash: keep(Field::PayloadHash, payload_hashes.get(k).copied().flatten().unwrap_or_default()),
                prev: keep(Field::Prev, prev),
                hash: keep(Field::Hash, hash),
            };
            self.recs.push(rec);
            prev = hash;
        }
        Ok(())
    }

    /// Sort the id lookup once every link is in.
    pub fn seal(&mut self) {
        self.by_id = self.recs.iter().enumerate().map(|(i, r)| (r.id, i as u32)).collect();
        self.by_id.sort_unstable();
    }

    /// The links of row `id`, in no particular order.
    pub fn of(&self, id: i64) -> impl Iterator<Item = u32> + '_ {
        let start = self.by_id.partition_point(|(k, _)| *k < id);
        self.by_id[start..].iter().take_while(move |(k, _)| *k == id).map(|(_, i)| *i)
    }

    /// A stored hash of link `i` exactly as stored.
    pub fn field(&self, i: u32, f: Field) -> &[u8] {
        let r = &self.recs[i as usize];
        let h = match f {
            Field::PayloadHash => &r.payload_hash,
            Field::Prev => &r.prev,
            Field::Hash => &r.hash,
        };
        if h.ok {
            &h.b
        } else {
            self.odd.get(&(i, f)).map(Vec::as_slice).unwrap_or_default()
        }
    }

    pub fn len(&self) -> usize {
        self.recs.len()
    }
}

/// The elements of a one-dimensional array in PostgreSQL's binary format (array_send): a
/// header (dimensions, null flag, element type, then size and lower bound per dimension),
/// then each element as a length (-1 for NULL) and its bytes. NULL array: no elements.
fn array_elements(v: Option<&[u8]>) -> Result<Vec<Option<&[u8]>>, String> {
    let Some(v) = v else { return Ok(vec![]) };
    let int = |at: usize| -> Result<i32, String> {
        v.get(at..at + 4).map(|b| i32::from_be_bytes([b[0], b[1], b[2], b[3]])).ok_or_else(|| "a link run's array is cut short".to_string())
    };
    let ndim = int(0)?;
    if ndim == 0 {
        return Ok(vec![]);
    }
    if ndim != 1 {
        return Err(format!("a link run's array has {ndim} dimensions, not 1"));
    }
    let len = int(12)?.max(0) as usize;
    // The header's count is what the table holds, not a bound: an element takes at least its
    // 4-byte length, so a tampered count cannot make this allocate past the bytes read.
    let mut out = Vec::with_capacity(len.min(v.len() / 4));
    let mut at = 20;
    for _ in 0..len {
        let n = int(at)?;
        at += 4;
        if n < 0 {
            out.push(None);
        } else {
            let n = n as usize;
            out.push(Some(v.get(at..at + n).ok_or_else(|| "a link run's array is cut short".to_string())?));
            at += n;
        }
    }
    Ok(out)
}
