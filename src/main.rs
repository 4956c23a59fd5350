//! The `etcd-rescue` binary: everything lives in the library's `cli` module.

fn main() -> std::process::ExitCode {
    etcd_rescue::cli::main()
}
