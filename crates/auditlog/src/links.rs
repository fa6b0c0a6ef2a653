//! The links verify reads before the log rows: compact, looked up by row id.
//!
//! verify used to have the server join every link to its log row; that hash join (spilling
//! to disk past work_mem) cost the server as much again as reading the log itself. Links are
//! narrow, so verify reads them first into this index and joins each log row to its links
//! as the rows stream in.

use std::collections::HashMap;

use crate::copy_rows::RawRow;

// Column order of the link COPY (verify.rs).
pub const L_TENANT: usize = 0;
pub const L_SEQ: usize = 1;
pub const L_ID: usize = 2;
pub const L_PAYLOAD_HASH: usize = 3;
pub const L_PREV_HASH: usize = 4;
pub const L_HASH: usize = 5;

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
    /// Add one link row of the COPY; `tenant` is its interned tenant id.
    pub fn push(&mut self, tenant: u32, row: &RawRow) {
        let i = self.recs.len() as u32;
        let mut hash_of = |f: Field, col: usize| {
            let v = row.get(col).unwrap_or_default();
            let h = H32::from(v);
            if !h.ok {
                self.odd.insert((i, f), v.to_vec());
            }
            h
        };
        let (payload_hash, prev, hash) =
            (hash_of(Field::PayloadHash, L_PAYLOAD_HASH), hash_of(Field::Prev, L_PREV_HASH), hash_of(Field::Hash, L_HASH));
        self.recs.push(LinkRec { tenant, seq: row.i64(L_SEQ).unwrap_or(0), id: row.i64(L_ID).unwrap_or(0), payload_hash, prev, hash });
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
