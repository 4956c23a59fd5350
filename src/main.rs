//! The `etcd-rescue` binary: the clap CLI over the `etcd_rescue` library.
//!
//! The CLI lives here, not in the library, so library users do not pull clap,
//! indicatif or the man/completion generators, and the compiler keeps printing
//! to this crate: the library has no `cli` module to print from.

mod cli;

fn main() -> std::process::ExitCode {
    cli::main()
}
