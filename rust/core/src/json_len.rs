//! The size of a value's JSON, measured without writing it anywhere: what the size rules of
//! trace metric items and the byte bound of error events waiting to be retried count.

/// The length of `value` as `serde_json::to_vec` writes it, without the copy.
pub fn json_len<T: serde::Serialize + ?Sized>(value: &T) -> usize {
    let mut counter = ByteCounter(0);
    // Writing to a counter cannot fail; a value that does not serialize counts what it wrote.
    let _ = serde_json::to_writer(&mut counter, value);
    counter.0
}

struct ByteCounter(usize);

impl std::io::Write for ByteCounter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0 += buf.len();
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_what_to_vec_writes() {
        let value = serde_json::json!({"name": "é", "values": [1.5, null, "x\n"]});
        let written = serde_json::to_vec(&value).unwrap().len();
        assert_eq!(json_len(&value), written);
    }
}
