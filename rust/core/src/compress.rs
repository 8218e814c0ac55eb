//! Compression of request bodies. A deflate or zstd compressor holds hundreds of
//! KiB of tables, and building one per request cost more than compressing a
//! small project's request: compressors are reused, from a pool.
//!
//! The pool, not one compressor per thread: a compressor is needed only while a body is
//! compressed, on whichever thread runs it (the runtime's workers; the caller's thread in
//! the blocking `Core::export`). Compressing is CPU work, so at most about one per core runs
//! at once, and the pool keeps at most that many idle.

use std::io;
use std::sync::{Mutex, OnceLock};

use flate2::{Compress, Crc, FlushCompress, Status};

use crate::sync::locked;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    Gzip,
    Zstd,
    None,
}

impl Compression {
    /// The `Content-Encoding` value, `None` when the body is sent as is.
    pub fn content_encoding(self) -> Option<&'static str> {
        match self {
            Compression::Gzip => Some("gzip"),
            Compression::Zstd => Some("zstd"),
            Compression::None => None,
        }
    }
}

/// Idle compressors, each taken by one request at a time.
struct Pool<T>(Mutex<Vec<T>>);

impl<T> Pool<T> {
    const fn new() -> Pool<T> {
        Pool(Mutex::new(Vec::new()))
    }

    fn idle(&self) -> std::sync::MutexGuard<'_, Vec<T>> {
        locked(&self.0)
    }

    /// Runs `f` with an idle compressor, or a new one from `make`; keeps it afterwards
    /// when fewer than [`max_idle`] are idle.
    fn with<R>(
        &self,
        make: impl FnOnce() -> io::Result<T>,
        f: impl FnOnce(&mut T) -> io::Result<R>,
    ) -> io::Result<R> {
        let taken = self.idle().pop();
        let mut compressor = match taken {
            Some(c) => c,
            None => make()?,
        };
        let result = f(&mut compressor);
        let mut idle = self.idle();
        if idle.len() < max_idle() {
            idle.push(compressor);
        }
        result
    }
}

/// How many idle compressors of each kind are kept: one per core.
fn max_idle() -> usize {
    static MAX: OnceLock<usize> = OnceLock::new();
    *MAX.get_or_init(|| std::thread::available_parallelism().map_or(2, |n| n.get()))
}

static DEFLATE: Pool<Compress> = Pool::new();
static ZSTD: Pool<zstd::bulk::Compressor<'static>> = Pool::new();

/// RFC 1952 member header: deflate, no flags, no mtime, "fastest" (XFL 4), unknown OS.
const GZIP_HEADER: [u8; 10] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 4, 255];

/// The body to send for `request`.
pub fn compress(compression: Compression, request: &[u8]) -> io::Result<Vec<u8>> {
    match compression {
        Compression::None => Ok(request.to_vec()),
        Compression::Gzip => gzip(request),
        Compression::Zstd => ZSTD.with(
            || zstd::bulk::Compressor::new(1),
            |compressor| compressor.compress(request),
        ),
    }
}

fn gzip(data: &[u8]) -> io::Result<Vec<u8>> {
    let make = || Ok(Compress::new(flate2::Compression::fast(), false));
    DEFLATE.with(make, |deflate| {
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

    #[test]
    fn the_pool_keeps_at_most_one_idle_compressor_per_core() {
        let input = b"hello hello hello hello".repeat(1000);
        std::thread::scope(|scope| {
            for _ in 0..4 * max_idle() {
                scope.spawn(|| {
                    for compression in [Compression::Gzip, Compression::Zstd] {
                        let body = compress(compression, &input).unwrap();
                        assert!(body.len() < input.len() / 10);
                    }
                });
            }
        });
        assert!(DEFLATE.idle().len() <= max_idle());
        assert!(ZSTD.idle().len() <= max_idle());
    }
}
