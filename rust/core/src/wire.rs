//! Minimal protobuf wire format: a reader that walks the fields of a message without decoding
//! them (so routing can look at resources and skip spans and log records), the OTLP field
//! numbers the core reads, and the one writer that wraps a payload in a field.

use std::ops::Range;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    #[error("truncated protobuf message at byte {0}")]
    Truncated(usize),
    #[error("malformed varint at byte {0}")]
    BadVarint(usize),
    #[error("unsupported protobuf wire type {wire_type} at byte {at}")]
    BadWireType { wire_type: u8, at: usize },
    #[error("field number 0 at byte {0}")]
    ZeroField(usize),
}

/// The payload of one field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Value<'a> {
    Varint(u64),
    Fixed64(&'a [u8; 8]),
    Bytes(&'a [u8]),
    Fixed32(&'a [u8; 4]),
}

/// One field of a message, with the byte range it occupies (tag included).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field<'a> {
    pub number: u32,
    pub value: Value<'a>,
    pub span: Range<usize>,
}

impl<'a> Field<'a> {
    pub fn bytes(&self) -> Option<&'a [u8]> {
        match self.value {
            Value::Bytes(b) => Some(b),
            _ => None,
        }
    }
}

/// Iterator over the top-level fields of one message.
pub struct Fields<'a> {
    buf: &'a [u8],
    pos: usize,
    failed: bool,
}

pub fn fields(buf: &[u8]) -> Fields<'_> {
    Fields {
        buf,
        pos: 0,
        failed: false,
    }
}

/// The varint at `*pos`, which moves past it.
pub(crate) fn read_varint(buf: &[u8], pos: &mut usize) -> Result<u64, WireError> {
    // Tags fit in one byte and most lengths in two: these paths keep span counting cheap.
    match buf.get(*pos..).unwrap_or_default() {
        [b0, ..] if *b0 < 0x80 => {
            *pos += 1;
            return Ok(u64::from(*b0));
        }
        [b0, b1, ..] if *b1 < 0x80 => {
            *pos += 2;
            return Ok(u64::from(b0 & 0x7f) | (u64::from(*b1) << 7));
        }
        _ => {}
    }
    let start = *pos;
    let mut value: u64 = 0;
    for shift in (0..64).step_by(7) {
        let byte = *buf.get(*pos).ok_or(WireError::Truncated(start))?;
        *pos += 1;
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Ok(value);
        }
    }
    Err(WireError::BadVarint(start))
}

/// The field at `*pos`, its number and value, and `*pos` moved past it: what [`Fields`]
/// yields, for a walk that keeps its own position (and so its fast path inlined).
#[inline(always)]
pub(crate) fn read_field<'a>(
    buf: &'a [u8],
    pos: &mut usize,
) -> Result<(u32, Value<'a>), WireError> {
    let start = *pos;
    let key = read_varint(buf, pos)?;
    let number = u32::try_from(key >> 3).map_err(|_| WireError::BadVarint(start))?;
    if number == 0 {
        return Err(WireError::ZeroField(start));
    }
    let value = match (key & 7) as u8 {
        0 => Value::Varint(read_varint(buf, pos)?),
        1 => Value::Fixed64(fixed(buf, pos, start)?),
        2 => {
            let len = read_varint(buf, pos)?;
            let len = usize::try_from(len).map_err(|_| WireError::Truncated(start))?;
            let from = *pos;
            skip(buf, pos, len, start)?;
            Value::Bytes(&buf[from..*pos])
        }
        5 => Value::Fixed32(fixed(buf, pos, start)?),
        wire_type => {
            return Err(WireError::BadWireType {
                wire_type,
                at: start,
            })
        }
    };
    Ok((number, value))
}

/// The bytes of a fixed-size value, borrowed like those of a length-delimited field.
fn fixed<'a, const N: usize>(
    buf: &'a [u8],
    pos: &mut usize,
    field_start: usize,
) -> Result<&'a [u8; N], WireError> {
    let from = *pos;
    skip(buf, pos, N, field_start)?;
    buf[from..*pos]
        .try_into()
        .map_err(|_| WireError::Truncated(field_start))
}

fn skip(buf: &[u8], pos: &mut usize, len: usize, field_start: usize) -> Result<(), WireError> {
    *pos = pos
        .checked_add(len)
        .filter(|end| *end <= buf.len())
        .ok_or(WireError::Truncated(field_start))?;
    Ok(())
}

impl<'a> Fields<'a> {
    fn next_field(&mut self) -> Result<Field<'a>, WireError> {
        let start = self.pos;
        let (number, value) = read_field(self.buf, &mut self.pos)?;
        Ok(Field {
            number,
            value,
            span: start..self.pos,
        })
    }
}

impl<'a> Iterator for Fields<'a> {
    type Item = Result<Field<'a>, WireError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.pos >= self.buf.len() {
            return None;
        }
        let field = self.next_field();
        self.failed = field.is_err();
        Some(field)
    }
}

/// The number of fields numbered `number` in `buf`, every field checked as [`Fields`] checks
/// it: the walk that counts a scope's spans or log records, one per item, without building a
/// [`Field`] for each.
pub fn count_fields(buf: &[u8], number: u32) -> Result<u64, WireError> {
    let mut pos = 0;
    let mut count = 0;
    while pos < buf.len() {
        let (n, _) = read_field(buf, &mut pos)?;
        count += u64::from(n == number);
    }
    Ok(count)
}

/// Field numbers shared by both signals' OTLP messages.
pub mod field {
    /// `Export*ServiceRequest.resource_{spans,logs}`
    pub const RESOURCE_BLOCK: u32 = 1;
    /// `Resource{Spans,Logs}.resource`
    pub const RESOURCE: u32 = 1;
    /// `Resource{Spans,Logs}.scope_{spans,logs}`
    pub const SCOPE_BLOCK: u32 = 2;
    /// `Scope{Spans,Logs}.{spans,log_records}`
    pub const ITEM: u32 = 2;
    /// `Resource.attributes`
    pub const ATTRIBUTE: u32 = 1;
    /// `KeyValue.key`
    pub const KEY: u32 = 1;
    /// `KeyValue.value`
    pub const VALUE: u32 = 2;
    /// `AnyValue.string_value`
    pub const STRING_VALUE: u32 = 1;
    /// `Export*ServiceResponse.partial_success`
    pub const PARTIAL_SUCCESS: u32 = 1;
    /// `Export*PartialSuccess.rejected_{spans,log_records}`
    pub const REJECTED: u32 = 1;
    /// `Export*PartialSuccess.error_message`
    pub const ERROR_MESSAGE: u32 = 2;
}

/// `request` (an OTLP export request of either signal) with each resource block's body
/// replaced by what `rewrite` makes of it (`None`: kept as it is); borrowed when no block
/// changes, and copied once from the first that does.
pub fn rewrite_resource_blocks<'a>(
    request: &'a [u8],
    mut rewrite: impl FnMut(&[u8]) -> Result<Option<Vec<u8>>, WireError>,
) -> Result<std::borrow::Cow<'a, [u8]>, WireError> {
    let mut out: Option<Vec<u8>> = None;
    for block in fields(request) {
        let block = block?;
        let rewritten = match (block.number, block.value) {
            (field::RESOURCE_BLOCK, Value::Bytes(body)) => rewrite(body)?,
            _ => None,
        };
        match (rewritten, &mut out) {
            (Some(body), None) => {
                let mut copy = Vec::with_capacity(request.len() + body.len() / 8 + 64);
                copy.extend_from_slice(&request[..block.span.start]);
                put_field(&mut copy, field::RESOURCE_BLOCK, &body);
                out = Some(copy);
            }
            (Some(body), Some(copy)) => put_field(copy, field::RESOURCE_BLOCK, &body),
            (None, Some(copy)) => copy.extend_from_slice(&request[block.span]),
            (None, None) => {}
        }
    }
    Ok(out.map_or(std::borrow::Cow::Borrowed(request), std::borrow::Cow::Owned))
}

/// Appends `payload` as length-delimited field `number` to `out`.
pub fn put_field(out: &mut Vec<u8>, number: u32, payload: &[u8]) {
    put_header(out, number, payload.len());
    out.extend_from_slice(payload);
}

/// Appends the tag and length of a length-delimited field `number` of `len` bytes.
pub fn put_header(out: &mut Vec<u8>, number: u32, len: usize) {
    put_varint(out, u64::from(number) << 3 | 2);
    put_varint(out, len as u64);
}

/// Encodes `payload` as length-delimited field `number`.
pub fn wrap(number: u32, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + 10);
    put_field(&mut out, number, payload);
    out
}

pub(crate) fn put_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

/// The bytes `put_varint` writes for `value`.
pub(crate) fn varint_len(value: u64) -> usize {
    // 7 bits a byte; 0 takes one byte too.
    (64 - (value | 1).leading_zeros() as usize).div_ceil(7)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_each_wire_type_with_its_span() {
        // field 1 varint 300, field 2 bytes "hi", field 3 fixed32, field 4 fixed64
        let buf = [
            0x08, 0xac, 0x02, 0x12, 0x02, b'h', b'i', 0x1d, 1, 2, 3, 4, 0x21, 1, 2, 3, 4, 5, 6, 7,
            8,
        ];
        let got: Vec<_> = fields(&buf).collect::<Result<_, _>>().unwrap();
        assert_eq!(got[0].value, Value::Varint(300));
        assert_eq!(got[0].span, 0..3);
        assert_eq!(got[1].value, Value::Bytes(b"hi"));
        assert_eq!(got[1].span, 3..7);
        assert_eq!(got[2].value, Value::Fixed32(&[1, 2, 3, 4]));
        assert_eq!(got[3].value, Value::Fixed64(&[1, 2, 3, 4, 5, 6, 7, 8]));
        assert_eq!(got[3].span.end, buf.len());
    }

    #[test]
    fn rejects_truncated_and_malformed_input() {
        assert_eq!(
            fields(&[0x12, 0x05, b'a']).next(),
            Some(Err(WireError::Truncated(0)))
        );
        assert_eq!(fields(&[0x08]).next(), Some(Err(WireError::Truncated(1))));
        assert_eq!(
            fields(&[0x0b]).next(),
            Some(Err(WireError::BadWireType {
                wire_type: 3,
                at: 0
            }))
        );
        assert_eq!(fields(&[0x00]).next(), Some(Err(WireError::ZeroField(0))));
        let endless = [0xff; 11];
        assert_eq!(fields(&endless).next(), Some(Err(WireError::BadVarint(0))));
    }

    #[test]
    fn varint_len_is_what_put_varint_writes() {
        for value in [
            0,
            1,
            127,
            128,
            16_383,
            16_384,
            u64::from(u32::MAX),
            u64::MAX,
        ] {
            let mut out = Vec::new();
            put_varint(&mut out, value);
            assert_eq!(varint_len(value), out.len(), "{value}");
        }
    }

    #[test]
    fn count_fields_counts_one_number_and_fails_as_fields_does() {
        // field 2 bytes, field 1 varint, field 2 bytes
        let buf = [0x12, 0x01, b'a', 0x08, 0x05, 0x12, 0x00];
        assert_eq!(count_fields(&buf, 2), Ok(2));
        assert_eq!(count_fields(&buf, 1), Ok(1));
        assert_eq!(count_fields(&[], 2), Ok(0));
        assert_eq!(
            count_fields(&[0x12, 0x01, b'a', 0x12, 0x05, b'a'], 2),
            Err(WireError::Truncated(3))
        );
    }

    #[test]
    fn stops_after_the_first_error() {
        let mut it = fields(&[0x12, 0x05]);
        assert!(matches!(it.next(), Some(Err(_))));
        assert_eq!(it.next(), None);
    }
}
