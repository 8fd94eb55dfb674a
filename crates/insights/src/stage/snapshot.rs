//! The stage's snapshot file: the next offset each detector has observed per partition, then
//! the detector's own snapshot, written atomically (temporary file, fsync, rename) so a crash
//! leaves the old one or the new one.

use std::{collections::BTreeMap, path::Path};

use anyhow::Context;

/// First bytes of a snapshot file (then a u32 length and the offsets, then the detector's own).
const FILE_MAGIC: &[u8; 8] = b"TPINSv1\n";

/// Next offset not yet observed, per `source/partition`.
pub(crate) type Positions = BTreeMap<String, i64>;

/// Snapshot file: magic, u32 LE length of the JSON offsets, the offsets, the detector snapshot.
/// Written to a temporary file, synced and renamed, so a crash leaves the old or the new one.
pub(crate) fn write_snapshot(
    path: &Path,
    positions: &Positions,
    detector: &[u8],
) -> anyhow::Result<()> {
    use std::io::Write;
    let dir = path.parent().context("snapshot path has a directory")?;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let offsets = serde_json::to_vec(positions)?;
    let tmp = path.with_extension("snapshot.tmp");
    let mut f =
        std::fs::File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
    f.write_all(FILE_MAGIC)?;
    f.write_all(&(offsets.len() as u32).to_le_bytes())?;
    f.write_all(&offsets)?;
    f.write_all(detector)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path).with_context(|| format!("renaming to {}", path.display()))?;
    Ok(())
}

/// The offsets and detector snapshot in `path`, `None` when there is no snapshot yet.
pub(crate) fn read_snapshot(path: &Path) -> anyhow::Result<Option<(Positions, Vec<u8>)>> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    let rest = bytes
        .strip_prefix(FILE_MAGIC.as_slice())
        .context("not an Insights snapshot (magic bytes)")?;
    anyhow::ensure!(rest.len() >= 4, "truncated snapshot");
    let n = u32::from_le_bytes(rest[..4].try_into().expect("4 bytes")) as usize;
    anyhow::ensure!(rest.len() >= 4 + n, "truncated snapshot");
    let positions = serde_json::from_slice(&rest[4..4 + n]).context("snapshot offsets")?;
    Ok(Some((positions, rest[4 + n..].to_vec())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshot_file_round_trips_and_refuses_garbage() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("insights").join("t.snapshot");
        assert!(read_snapshot(&path).expect("missing is fine").is_none());
        let positions = BTreeMap::from([("topic/0".to_string(), 42i64), ("topic/3".into(), 7)]);
        write_snapshot(&path, &positions, b"DETECTOR").expect("written");
        let (p, body) = read_snapshot(&path).expect("read").expect("present");
        assert_eq!(p, positions);
        assert_eq!(body, b"DETECTOR");
        std::fs::write(&path, b"garbage").expect("overwrite");
        assert!(read_snapshot(&path).is_err());
        std::fs::write(
            &path,
            [FILE_MAGIC.as_slice(), &[200, 0, 0, 0], b"{}"].concat(),
        )
        .expect("overwrite");
        assert!(
            read_snapshot(&path).is_err(),
            "length past the end is refused"
        );
    }
}
