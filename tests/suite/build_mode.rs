//! Fails loudly when the tests were built in the wrong mode.
//!
//! An exported `RUSTFLAGS` (even an empty one) replaces the `--cfg madsim`
//! of `.cargo/config.toml` and silently turns the simulation off. The real
//! build's tests set `ETCD_SIM_EXPECT_REAL=1`.

#[test]
fn tests_run_in_the_mode_they_were_meant_for() {
    let expect_real = std::env::var("ETCD_SIM_EXPECT_REAL").is_ok_and(|v| v == "1");
    let expected = if expect_real { "real" } else { "simulation" };
    assert_eq!(
        etcd_sim::BUILD_MODE,
        expected,
        "built in {} mode but {expected} mode was expected: is RUSTFLAGS exported? \
         (unset it to get the simulation build from .cargo/config.toml)",
        etcd_sim::BUILD_MODE
    );
}
