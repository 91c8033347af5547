//! Replays the fuzzing corpus and past crashes (`fuzz/corpus`, `fuzz/regressions`) through the
//! masking fuzz target, so that every CI run checks them without a fuzzing engine.

#[path = "../../fuzz/replay.rs"]
mod replay;
use replay::replay;

#[test]
fn mask_value() {
    replay("mask_value", masking::fuzzing::mask_value);
}
