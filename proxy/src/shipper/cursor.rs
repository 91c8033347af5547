//! A sink's durable cursor: `ship-<sink>.cursor` in the audit directory, holding the last seq
//! the sink confirmed. Replaced atomically (write, fsync, rename, fsync the directory), so a
//! crash leaves the old cursor or the new one, never a torn one.

use std::io::Write;
use std::path::{Path, PathBuf};

use super::ShipperError;

fn path(dir: &Path, sink: &str) -> PathBuf {
    dir.join(format!("ship-{sink}.cursor"))
}

/// The last confirmed seq; 0 when nothing was shipped yet.
pub fn load(dir: &Path, sink: &str) -> Result<u64, ShipperError> {
    let p = path(dir, sink);
    match std::fs::read_to_string(&p) {
        Ok(text) => text.trim().parse().map_err(|_| ShipperError::CursorNotSeq {
            text: text.trim().to_string(),
            path: p,
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(0),
        Err(source) => Err(ShipperError::Cursor { path: p, source }),
    }
}

/// Records `seq` as confirmed.
pub fn save(dir: &Path, sink: &str, seq: u64) -> std::io::Result<()> {
    let p = path(dir, sink);
    let tmp = p.with_extension("cursor.tmp");
    {
        let mut f = std::fs::File::create(&tmp)?;
        writeln!(f, "{seq}")?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, &p)?;
    std::fs::File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    #[test]
    fn cursors_round_trip_and_start_at_zero() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(super::load(dir.path(), "central").unwrap(), 0);
        super::save(dir.path(), "central", 42).unwrap();
        assert_eq!(super::load(dir.path(), "central").unwrap(), 42);
        std::fs::write(dir.path().join("ship-central.cursor"), "x").unwrap();
        assert!(super::load(dir.path(), "central")
            .unwrap_err()
            .to_string()
            .contains("not a seq"));
    }
}
