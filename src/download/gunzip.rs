//! Decompressing a gzip download as it streams (bills asked with `tar_type=GZIP`), in
//! bounded memory.

use std::io::Write as _;

use flate2::write::MultiGzDecoder;

use crate::error::{Error, Result};

/// A gzip decoder fed chunk by chunk. Each [`feed`](Self::feed) step inflates at most the
/// decoder's 32 KiB window of output, which the caller writes out before the next step, so a
/// highly compressed input never balloons in memory.
pub(crate) struct Gunzip {
    decoder: MultiGzDecoder<Vec<u8>>,
}

impl std::fmt::Debug for Gunzip {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gunzip").finish_non_exhaustive()
    }
}

impl Gunzip {
    pub(crate) fn new() -> Self {
        Self {
            decoder: MultiGzDecoder::new(Vec::with_capacity(64 * 1024)),
        }
    }

    /// Inflates a prefix of `input` and returns how many bytes of it were used; the output is
    /// then in [`output`](Self::output).
    ///
    /// # Errors
    /// [`Error::Decode`] when the input is not gzip.
    pub(crate) fn feed(&mut self, input: &[u8]) -> Result<usize> {
        let used = self.decoder.write(input).map_err(corrupt)?;
        // The decoder holds back its last step's output until the next write; flushing hands
        // it over now, so nothing waits in two places.
        self.decoder.flush().map_err(corrupt)?;
        if used == 0 && !input.is_empty() {
            return Err(Error::Decode(
                "the gzip download has data after its end".into(),
            ));
        }
        Ok(used)
    }

    /// The output inflated so far and not yet taken; the caller writes it out and clears it.
    pub(crate) fn output(&mut self) -> &mut Vec<u8> {
        self.decoder.get_mut()
    }

    /// Checks that the stream ended with its trailer (CRC and length), leaving any last output
    /// in [`output`](Self::output).
    ///
    /// # Errors
    /// [`Error::Decode`] when the download stopped inside the gzip stream or its CRC is wrong.
    pub(crate) fn finish(&mut self) -> Result<()> {
        self.decoder.try_finish().map_err(corrupt)
    }
}

fn corrupt(e: std::io::Error) -> Error {
    Error::Decode(format!("the download is not valid gzip: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::write::GzEncoder;
    use flate2::Compression;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut encoder = GzEncoder::new(Vec::new(), Compression::fast());
        encoder.write_all(data).unwrap();
        encoder.finish().unwrap()
    }

    fn inflate(compressed: &[u8], chunk: usize) -> Result<(Vec<u8>, usize)> {
        let mut gunzip = Gunzip::new();
        let mut out = Vec::new();
        let mut largest = 0;
        for piece in compressed.chunks(chunk) {
            let mut rest = piece;
            while !rest.is_empty() {
                let used = gunzip.feed(rest)?;
                rest = &rest[used..];
                largest = largest.max(gunzip.output().len());
                out.append(gunzip.output());
            }
        }
        gunzip.finish()?;
        out.append(gunzip.output());
        Ok((out, largest))
    }

    #[test]
    fn a_zip_bomb_inflates_in_small_steps() {
        let data = vec![0u8; 8 * 1024 * 1024];
        let compressed = gzip(&data);
        assert!(compressed.len() < 64 * 1024, "{}", compressed.len());
        let (out, largest) = inflate(&compressed, compressed.len()).unwrap();
        assert_eq!(out, data);
        assert!(largest <= 256 * 1024, "{largest} bytes held at once");
    }

    #[test]
    fn any_chunking_gives_the_same_bytes_and_a_cut_stream_is_an_error() {
        let data: Vec<u8> = (0..200_000u32)
            .flat_map(|i| (i % 251).to_le_bytes())
            .collect();
        let compressed = gzip(&data);
        for chunk in [1, 7, 4096, compressed.len()] {
            assert_eq!(
                inflate(&compressed, chunk).unwrap().0,
                data,
                "chunk {chunk}"
            );
        }
        let cut = &compressed[..compressed.len() - 3];
        assert!(matches!(inflate(cut, 4096), Err(Error::Decode(_))));
        let mut junk = compressed.clone();
        junk.extend_from_slice(b"not gzip");
        assert!(matches!(inflate(&junk, 4096), Err(Error::Decode(_))));
        assert!(matches!(
            inflate(b"plain text", 4096),
            Err(Error::Decode(_))
        ));
    }
}
