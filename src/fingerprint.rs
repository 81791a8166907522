//! Stable fingerprints: FNV-1a, the same in every run and build, so a fingerprint can be kept
//! in a status and compared by a later process (resource envelopes, pass inputs, review
//! cycles). Not a cryptographic hash: it detects change, it does not authenticate.

/// FNV-1a, fed as bytes are written.
pub struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Self {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
}

impl Fnv {
    /// The hash of everything written so far.
    pub fn finish(&self) -> u64 {
        self.0
    }
}

impl std::io::Write for Fnv {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        for b in bytes {
            self.0 = (self.0 ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3);
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// FNV-1a of `text`: the same in every run and build, so it can be kept in a status.
pub fn stable_hash(text: &str) -> u64 {
    let mut hash = Fnv::default();
    let _ = std::io::Write::write(&mut hash, text.as_bytes());
    hash.finish()
}
