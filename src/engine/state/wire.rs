//! The primitives of the changelog format: varints, strings, and JSON
//! values in a compact binary form whose common snapshot keys are one byte.
//! [`super::codec`] lays a state out with them.

use serde_json::{Map, Number, Value};

/// Snapshot keys of CONTRACT §3, written as one byte (their index + 1).
///
/// A frozen copy, on purpose not `rules::field::SNAPSHOT_FIELDS`: the order
/// is the on-disk format, so it may only ever grow at the end, whatever the
/// rules accept.
pub(super) const KEYS: [&str; 13] = [
    "id",
    "email",
    "first_name",
    "last_name",
    "team",
    "department",
    "location",
    "job_title",
    "employment_type",
    "manager_id",
    "start_date",
    "end_date",
    "attributes",
];

// Value tags. A string shorter than 128 bytes is one byte: 0x80 | length.
const NULL: u8 = 0;
const FALSE: u8 = 1;
const TRUE: u8 = 2;
const INT: u8 = 3;
const UINT: u8 = 4;
const FLOAT: u8 = 5;
const STRING: u8 = 6;
const ARRAY: u8 = 7;
const OBJECT: u8 = 8;
const THE_ID: u8 = 9;
const SHORT_STRING: u8 = 0x80;

/// Why a changelog value could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unreadable state value: {0}")]
pub struct DecodeError(pub String);

pub(super) fn bad(what: &str) -> DecodeError {
    DecodeError(what.to_string())
}

pub(super) fn put_uint(out: &mut Vec<u8>, mut n: u64) {
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

pub(super) fn put_int(out: &mut Vec<u8>, n: i64) {
    put_uint(out, ((n << 1) ^ (n >> 63)) as u64);
}

pub(super) fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    put_uint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

pub(super) fn put_str(out: &mut Vec<u8>, s: &str) {
    put_bytes(out, s.as_bytes());
}

pub(super) fn put_object(out: &mut Vec<u8>, map: &Map<String, Value>, employee_id: &str) {
    out.push(OBJECT);
    put_uint(out, map.len() as u64);
    for (key, value) in map {
        match KEYS.iter().position(|k| k == key) {
            Some(i) => put_uint(out, i as u64 + 1),
            None => {
                put_uint(out, 0);
                put_str(out, key);
            }
        }
        // Only the snapshot's own `id` may stand for the employee id.
        let id = if key == "id" { employee_id } else { "" };
        put_value(out, value, id);
    }
}

fn put_value(out: &mut Vec<u8>, value: &Value, employee_id: &str) {
    match value {
        Value::Null => out.push(NULL),
        Value::Bool(false) => out.push(FALSE),
        Value::Bool(true) => out.push(TRUE),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                out.push(INT);
                put_int(out, i);
            } else if let Some(u) = n.as_u64() {
                out.push(UINT);
                put_uint(out, u);
            } else {
                out.push(FLOAT);
                out.extend(n.as_f64().unwrap_or(0.0).to_le_bytes());
            }
        }
        Value::String(s) if !employee_id.is_empty() && s == employee_id => out.push(THE_ID),
        Value::String(s) if s.len() < 0x80 => {
            out.push(SHORT_STRING | s.len() as u8);
            out.extend_from_slice(s.as_bytes());
        }
        Value::String(s) => {
            out.push(STRING);
            put_str(out, s);
        }
        Value::Array(items) => {
            out.push(ARRAY);
            put_uint(out, items.len() as u64);
            for item in items {
                put_value(out, item, "");
            }
        }
        Value::Object(map) => put_object(out, map, ""),
    }
}

/// Nesting deeper than this is refused rather than risking the stack.
const MAX_DEPTH: usize = 64;

/// Reads a value front to back; every read checks bounds and UTF-8.
pub(super) struct Reader<'a> {
    pub(super) bytes: &'a [u8],
    pub(super) pos: usize,
}

impl<'a> Reader<'a> {
    pub(super) fn u8(&mut self) -> Result<u8, DecodeError> {
        let b = *self.bytes.get(self.pos).ok_or_else(|| bad("truncated"))?;
        self.pos += 1;
        Ok(b)
    }

    pub(super) fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        let end = self.pos.checked_add(n).ok_or_else(|| bad("length"))?;
        let slice = self
            .bytes
            .get(self.pos..end)
            .ok_or_else(|| bad("truncated"))?;
        self.pos = end;
        Ok(slice)
    }

    pub(super) fn uint(&mut self) -> Result<u64, DecodeError> {
        let mut n = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.u8()?;
            n |= u64::from(b & 0x7f) << shift;
            if b < 0x80 {
                return Ok(n);
            }
        }
        Err(bad("varint"))
    }

    pub(super) fn int(&mut self) -> Result<i64, DecodeError> {
        let z = self.uint()?;
        Ok(((z >> 1) as i64) ^ -((z & 1) as i64))
    }

    pub(super) fn bytes(&mut self) -> Result<&'a [u8], DecodeError> {
        let len = usize::try_from(self.uint()?).map_err(|_| bad("length"))?;
        self.take(len)
    }

    pub(super) fn str(&mut self) -> Result<&'a str, DecodeError> {
        let len = usize::try_from(self.uint()?).map_err(|_| bad("length"))?;
        self.str_of(len)
    }

    pub(super) fn str_of(&mut self, len: usize) -> Result<&'a str, DecodeError> {
        std::str::from_utf8(self.take(len)?).map_err(|_| bad("not UTF-8"))
    }

    /// One value; `employee_id` is what [`THE_ID`] stands for here.
    pub(super) fn value(&mut self, employee_id: &str, depth: usize) -> Result<Value, DecodeError> {
        if depth > MAX_DEPTH {
            return Err(bad("nested too deeply"));
        }
        let tag = self.u8()?;
        Ok(match tag {
            NULL => Value::Null,
            FALSE => Value::Bool(false),
            TRUE => Value::Bool(true),
            INT => Value::Number(self.int()?.into()),
            UINT => Value::Number(self.uint()?.into()),
            FLOAT => {
                let mut le = [0; 8];
                le.copy_from_slice(self.take(8)?);
                let n = Number::from_f64(f64::from_le_bytes(le)).ok_or_else(|| bad("float"))?;
                Value::Number(n)
            }
            STRING => Value::String(self.str()?.to_string()),
            THE_ID if !employee_id.is_empty() => Value::String(employee_id.to_string()),
            ARRAY => {
                let n = self.uint()?;
                let mut items = Vec::with_capacity(n.min(1024) as usize);
                for _ in 0..n {
                    items.push(self.value("", depth + 1)?);
                }
                Value::Array(items)
            }
            OBJECT => {
                let n = self.uint()?;
                let mut map = Map::with_capacity(n.min(1024) as usize);
                for _ in 0..n {
                    let key = match usize::try_from(self.uint()?).map_err(|_| bad("key"))? {
                        0 => self.str()?.to_string(),
                        i => KEYS.get(i - 1).ok_or_else(|| bad("key"))?.to_string(),
                    };
                    let id = if key == "id" { employee_id } else { "" };
                    let value = self.value(id, depth + 1)?;
                    map.insert(key, value);
                }
                Value::Object(map)
            }
            t if t & SHORT_STRING != 0 => {
                Value::String(self.str_of(usize::from(t & !SHORT_STRING))?.to_string())
            }
            _ => return Err(bad("unknown value tag")),
        })
    }
}
