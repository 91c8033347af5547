//! Replays the fuzzing corpus and past crashes (`fuzz/corpus`, `fuzz/regressions`) through the
//! policy fuzz targets, so that every CI run checks them without a fuzzing engine.

#[path = "../../fuzz/replay.rs"]
mod replay;
use replay::replay;

#[test]
fn policy_analyze() {
    replay("policy_analyze", policy::fuzzing::analyze_sql);
}

#[test]
fn policy_verdicts() {
    replay("policy_verdicts", policy::fuzzing::verdicts);
}
