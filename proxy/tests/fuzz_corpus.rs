//! Replays the fuzzing corpus and past crashes (`fuzz/corpus`, `fuzz/regressions`) through the
//! proxy's fuzz targets, so that every CI run checks them without a fuzzing engine.

#[path = "../../fuzz/replay.rs"]
mod replay;
use replay::replay;

#[test]
fn pg_session() {
    replay("pg_session", sluice::fuzzing::pg_session);
}

#[test]
fn pg_startup() {
    replay("pg_startup", sluice::fuzzing::pg_startup);
}

#[test]
fn scram_client() {
    replay("scram_client", sluice::fuzzing::scram_client);
}

#[test]
fn mysql_session() {
    replay("mysql_session", sluice::fuzzing::mysql_session);
}

#[test]
fn mysql_handshake() {
    replay("mysql_handshake", sluice::fuzzing::mysql_handshake);
}

#[test]
fn config_toml() {
    replay("config_toml", sluice::fuzzing::config_toml);
}

#[test]
fn admin_request() {
    replay("admin_request", sluice::fuzzing::admin_request);
}
