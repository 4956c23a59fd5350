//! Benchmark floors: one sequential pass over a file, read in 1 MiB chunks,
//! through CRC-32C or SHA-256.
//!
//! - `floor_pass crc32c FILE`: `snapshot status` must read and checksum every
//!   byte once, so its time is reported against this pass.
//! - `floor_pass sha256 FILE`: `check` of a saved snapshot verifies the
//!   SHA-256 trailer, and one SHA-256 stream cannot be split across cores, so
//!   that check cannot finish before this pass does.

use std::io::Read;

use sha2::{Digest, Sha256};

enum Pass {
    Crc32c(u32),
    Sha256(Box<Sha256>),
}

impl Pass {
    fn update(&mut self, chunk: &[u8]) {
        match self {
            Pass::Crc32c(crc) => *crc = crc32c::crc32c_append(*crc, chunk),
            Pass::Sha256(h) => h.update(chunk),
        }
    }

    fn hex(self) -> String {
        match self {
            Pass::Crc32c(crc) => format!("{crc:08x}"),
            Pass::Sha256(h) => h.finalize().iter().map(|b| format!("{b:02x}")).collect(),
        }
    }
}

fn fail(msg: String) -> ! {
    eprintln!("{msg}");
    std::process::exit(2);
}

fn main() {
    let args: Vec<_> = std::env::args_os().skip(1).collect();
    let [mode, path] = args.as_slice() else {
        fail("usage: floor_pass crc32c|sha256 FILE".into());
    };
    let mut pass = match mode.to_str() {
        Some("crc32c") => Pass::Crc32c(0),
        Some("sha256") => Pass::Sha256(Box::default()),
        _ => fail(format!("unknown pass {mode:?}: crc32c or sha256")),
    };
    let mut f = std::fs::File::open(path)
        .unwrap_or_else(|e| fail(format!("open {}: {e}", path.to_string_lossy())));
    let mut buf = vec![0u8; 1 << 20];
    let mut total = 0u64;
    loop {
        match f.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                pass.update(buf.get(..n).unwrap_or(&[]));
                total += n as u64;
            }
            Err(e) => fail(format!("read: {e}")),
        }
    }
    println!("{} {total}", pass.hex());
}
