//! Compression of request bodies. A deflate or zstd compressor holds hundreds of
//! KiB of tables, and building one per request cost more than compressing a
//! small project's request: each thread keeps one of each and resets it.

use std::cell::RefCell;
use std::io;

use flate2::{Compress, Crc, FlushCompress, Status};

use crate::config::Compression;

thread_local! {
    static DEFLATE: RefCell<Option<Compress>> = const { RefCell::new(None) };
    static ZSTD: RefCell<Option<zstd::bulk::Compressor<'static>>> = const { RefCell::new(None) };
}

/// RFC 1952 member header: deflate, no flags, no mtime, "fastest" (XFL 4), unknown OS.
const GZIP_HEADER: [u8; 10] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 4, 255];

/// The body to send for `request`.
pub fn compress(compression: Compression, request: &[u8]) -> io::Result<Vec<u8>> {
    match compression {
        Compression::None => Ok(request.to_vec()),
        Compression::Gzip => gzip(request),
        Compression::Zstd => ZSTD.with_borrow_mut(|slot| {
            let compressor = match slot {
                Some(c) => c,
                None => slot.insert(zstd::bulk::Compressor::new(1)?),
            };
            compressor.compress(request)
        }),
    }
}

fn gzip(data: &[u8]) -> io::Result<Vec<u8>> {
    DEFLATE.with_borrow_mut(|slot| {
        let deflate = slot.get_or_insert_with(|| Compress::new(flate2::Compression::fast(), false));
        // Also clears what a failed call may have left behind.
        deflate.reset();
        let mut out = Vec::with_capacity(GZIP_HEADER.len() + data.len() / 4 + 64);
        out.extend_from_slice(&GZIP_HEADER);
        loop {
            // `compress_vec` only fills spare capacity; room guarantees progress.
            if out.capacity() - out.len() < 256 {
                out.reserve(out.len().max(4096));
            }
            let consumed = usize::try_from(deflate.total_in())
                .map_err(|_| io::Error::other("deflate consumed more than memory holds"))?;
            let status = deflate
                .compress_vec(&data[consumed..], &mut out, FlushCompress::Finish)
                .map_err(io::Error::other)?;
            if status == Status::StreamEnd {
                break;
            }
        }
        let mut crc = Crc::new();
        crc.update(data);
        out.extend_from_slice(&crc.sum().to_le_bytes());
        // ISIZE is the input's length modulo 2^32.
        out.extend_from_slice(&(data.len() as u32).to_le_bytes());
        Ok(out)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn gunzip(body: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(body)
            .read_to_end(&mut out)
            .unwrap();
        out
    }

    /// Bytes that deflate cannot shrink, so the output outgrows its first capacity.
    fn noise(len: usize) -> Vec<u8> {
        let mut x: u32 = 0x9e37_79b9;
        (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                x as u8
            })
            .collect()
    }

    #[test]
    fn gzip_round_trips_with_a_reused_compressor() {
        let inputs = [
            b"hello hello hello hello".repeat(1000),
            Vec::new(),
            noise(300_000),
            b"again".to_vec(),
        ];
        for input in &inputs {
            let body = compress(Compression::Gzip, input).unwrap();
            assert_eq!(&body[..3], &[0x1f, 0x8b, 8]);
            assert_eq!(&gunzip(&body), input);
        }
        assert!(compress(Compression::Gzip, &inputs[0]).unwrap().len() < inputs[0].len() / 10);
    }

    #[test]
    fn zstd_and_none_round_trip() {
        for input in [b"hello hello hello hello".repeat(10), noise(100_000)] {
            let zs = compress(Compression::Zstd, &input).unwrap();
            assert_eq!(zstd::decode_all(&zs[..]).unwrap(), input);
            assert_eq!(compress(Compression::None, &input).unwrap(), input);
        }
    }
}
