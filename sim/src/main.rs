//! `etcd-sim`: run seeded campaigns, reproduce a seed, check a history,
//! serve a real member.
//!
//! Exit codes: 0 linearizable (or success), 1 a violation was found,
//! 2 bad usage, 3 the checker could not decide in time.

mod cli;

fn main() -> std::process::ExitCode {
    cli::main()
}
