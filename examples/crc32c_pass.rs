//! The benchmark floor: one sequential CRC-32C pass over a file, read in 1 MiB
//! chunks. `snapshot status` cannot beat reading every byte once, so its time
//! is reported against this one.

use std::io::Read;

fn main() {
    let Some(path) = std::env::args_os().nth(1) else {
        eprintln!("usage: crc32c_pass FILE");
        std::process::exit(2);
    };
    let mut f = match std::fs::File::open(&path) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("open {}: {e}", path.to_string_lossy());
            std::process::exit(2);
        }
    };
    let mut buf = vec![0u8; 1 << 20];
    let (mut crc, mut total) = (0u32, 0u64);
    loop {
        match f.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                crc = crc32c::crc32c_append(crc, buf.get(..n).unwrap_or(&[]));
                total += n as u64;
            }
            Err(e) => {
                eprintln!("read: {e}");
                std::process::exit(2);
            }
        }
    }
    println!("{crc:08x} {total}");
}
