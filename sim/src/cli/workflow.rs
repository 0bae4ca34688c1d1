//! The nightly fuzzing workflow (`.github/workflows/fuzz.yml`) cannot rot:
//! every `etcd-sim` command line in it must parse as this binary's command
//! line does. Its variables are given sample values first; a variable with
//! none fails the test, so a new one is added here on purpose.

use clap::Parser;

use super::Cli;

const WORKFLOW: &str = include_str!("../../../.github/workflows/fuzz.yml");

/// Sample values of the workflow's shell variables and expressions.
const SAMPLES: [(&str, &str); 8] = [
    ("$SEEDS", "0..20000"),
    ("$SHARDS", "8"),
    ("$SHARD", "3"),
    ("$TRAFFIC", "mixed"),
    ("$BUG_FLAGS", "--bug stale-read"),
    ("$seed", "7"),
    // What `run --json` gives each failing seed to replay it by.
    ("$cmd", "etcd-sim reproduce --seed 7 --bug stale-read"),
    ("${{ matrix.shard }}", "3"),
];

/// Every `run:` script of the workflow's steps.
fn scripts(workflow: &serde_yaml::Value) -> Vec<String> {
    let jobs = workflow["jobs"]
        .as_mapping()
        .expect("the workflow has jobs");
    jobs.values()
        .flat_map(|job| job["steps"].as_sequence().cloned().unwrap_or_default())
        .filter_map(|step| step["run"].as_str().map(str::to_string))
        .collect()
}

/// The etcd-sim command lines in `script`, variables replaced, as words
/// (the program name first), cut at shell operators.
fn command_lines(script: &str) -> Vec<Vec<String>> {
    script
        .lines()
        .filter_map(|line| {
            let at = line.find("./target/release/")?;
            let mut line = line[at + "./target/release/".len()..].to_string();
            for (variable, sample) in SAMPLES {
                line = line.replace(variable, sample);
            }
            assert!(
                !line.contains('$'),
                "a workflow variable has no sample value in workflow.rs: {line}"
            );
            let words: Vec<String> = line
                .split_whitespace()
                .take_while(|word| !["||", "&&", ";", "|"].contains(word))
                .map(str::to_string)
                .collect();
            Some(words)
        })
        .collect()
}

#[test]
fn every_etcd_sim_command_in_the_fuzzing_workflow_parses() {
    let workflow: serde_yaml::Value =
        serde_yaml::from_str(WORKFLOW).expect("the workflow is valid YAML");
    let lines: Vec<Vec<String>> = scripts(&workflow)
        .iter()
        .flat_map(|script| command_lines(script))
        .collect();
    // The campaign, the replay of a failing seed, and the merge.
    assert!(lines.len() >= 3, "{lines:?}");
    for words in &lines {
        assert_eq!(words[0], "etcd-sim", "{words:?}");
        if let Err(e) = Cli::try_parse_from(words) {
            panic!("the workflow's `{}` does not parse:\n{e}", words.join(" "));
        }
    }
}

#[test]
fn a_command_line_the_binary_refuses_is_caught() {
    let bad = "      run: ./target/release/etcd-sim run --seeds $SEEDS --shard $SHARD";
    let words = &command_lines(bad)[0];
    // --shard needs K/N: the check must refuse it, or it proves nothing.
    assert!(Cli::try_parse_from(words).is_err());
}
