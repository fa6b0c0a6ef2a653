//! Rows of a binary COPY, parsed in place: the verifier hashes the bytes PostgreSQL
//! sent, so no field is decoded to text or copied.

use bytes::{Buf, Bytes, BytesMut};

const SIGNATURE: &[u8] = b"PGCOPY\n\xff\r\n\0";

/// Fields a row may have; the verifier's COPYs have at most 11, and a row with more keeps
/// only the first ones (their offsets are inline: no allocation per row).
const MAX_FIELDS: usize = 16;

pub struct RawRow {
    buf: Bytes,
    /// (offset, length) per field; length -1 is NULL.
    fields: [(u32, i32); MAX_FIELDS],
    count: usize,
}

impl RawRow {
    pub fn get(&self, i: usize) -> Option<&[u8]> {
        let (off, len) = *self.fields[..self.count].get(i)?;
        (len >= 0).then(|| &self.buf[off as usize..off as usize + len as usize])
    }

    pub fn i64(&self, i: usize) -> Option<i64> {
        self.get(i).and_then(|b| b.try_into().ok()).map(i64::from_be_bytes)
    }

    pub fn bool(&self, i: usize) -> Option<bool> {
        self.get(i).and_then(|b| b.first()).map(|b| *b != 0)
    }
}

#[derive(Default)]
pub struct Parser {
    pending: BytesMut,
    header_done: bool,
    pub finished: bool,
}

impl Parser {
    /// Feed one CopyData chunk; complete rows are pushed to `out`.
    pub fn feed(&mut self, chunk: &[u8], out: &mut Vec<RawRow>) -> Result<(), String> {
        self.pending.extend_from_slice(chunk);
        if !self.header_done {
            if self.pending.len() < 19 {
                return Ok(());
            }
            if &self.pending[..11] != SIGNATURE {
                return Err("the COPY stream is not in binary format".into());
            }
            let ext = u32::from_be_bytes(self.pending[15..19].try_into().unwrap_or_default()) as usize;
            if self.pending.len() < 19 + ext {
                return Ok(());
            }
            self.pending.advance(19 + ext);
            self.header_done = true;
        }
        while !self.finished {
            match self.row_len()? {
                None => break,
                Some(0) => {
                    self.finished = true;
                    self.pending.advance(2);
                }
                Some(n) => {
                    let buf = self.pending.split_to(n).freeze();
                    out.push(index_row(buf));
                }
            }
        }
        Ok(())
    }

    /// Length of the next complete tuple (0 for the trailer), or None if incomplete.
    fn row_len(&self) -> Result<Option<usize>, String> {
        let p = &self.pending[..];
        if p.len() < 2 {
            return Ok(None);
        }
        let count = i16::from_be_bytes([p[0], p[1]]);
        if count == -1 {
            return Ok(Some(0));
        }
        if count < 0 {
            return Err(format!("bad field count {count} in the COPY stream"));
        }
        let mut at = 2usize;
        for _ in 0..count {
            if p.len() < at + 4 {
                return Ok(None);
            }
            let len = i32::from_be_bytes([p[at], p[at + 1], p[at + 2], p[at + 3]]);
            at += 4 + len.max(0) as usize;
        }
        Ok((p.len() >= at).then_some(at))
    }
}

fn index_row(buf: Bytes) -> RawRow {
    let count = (i16::from_be_bytes([buf[0], buf[1]]).max(0) as usize).min(MAX_FIELDS);
    let mut fields = [(0, -1); MAX_FIELDS];
    let mut at = 2usize;
    for f in fields.iter_mut().take(count) {
        let len = i32::from_be_bytes([buf[at], buf[at + 1], buf[at + 2], buf[at + 3]]);
        *f = ((at + 4) as u32, len);
        at += 4 + len.max(0) as usize;
    }
    RawRow { buf, fields, count }
}
