//! Helpers shared by the fuzz targets (no target logic here).

use std::path::PathBuf;

/// Splits `data` into at most `n` parts at NUL bytes; missing parts are empty. The last part
/// keeps any further NULs.
pub fn split_nul(data: &[u8], n: usize) -> Vec<&[u8]> {
    let mut out: Vec<&[u8]> = data.splitn(n, |b| *b == 0).collect();
    out.resize(n, &[]);
    out
}

/// A fresh scratch directory, in RAM (`/dev/shm`) when the machine has it so that fsyncs cost
/// nothing; removed when dropped.
pub fn scratch_dir() -> tempfile::TempDir {
    let shm = PathBuf::from("/dev/shm");
    let base = if shm.is_dir() {
        shm
    } else {
        std::env::temp_dir()
    };
    tempfile::Builder::new()
        .prefix("trailpipe-fuzz-")
        .tempdir_in(base)
        .or_else(|_| tempfile::tempdir())
        .expect("a scratch directory can be created")
}

/// A single-threaded tokio runtime with I/O and timers, built once per process.
pub fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: std::sync::OnceLock<tokio::runtime::Runtime> = std::sync::OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a tokio runtime")
    })
}
