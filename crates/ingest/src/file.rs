//! The file source: NDJSON (one record per line, optionally gzip) or CloudTrail log files
//! (`{"Records":[...]}`, `.json` / `.json.gz`), a single file or a directory tree read in path
//! order. It is the embedded default (no Kafka needed) and the way to backfill archives.
//!
//! Each file is its own partition (offset = 0-based line, or 0 for a whole-file record); the
//! source finishes when every file's watermark has reached its end, i.e. every record is in a log
//! file or in the dead-letter file.

use std::{
    collections::HashMap,
    io::{BufRead, BufReader, Read},
    path::{Path, PathBuf},
    sync::Arc,
};

use bytes::Bytes;
use tokio::sync::{mpsc, oneshot};
use trailpipe_event::{
    parse_message, Feedback, Flow, MemoryBudget, Message, ParseLimits, PartitionId,
};

use crate::{IngestError, Watermarks};

/// What a finished file source read.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct FileSourceSummary {
    /// Files read.
    pub files: usize,
    /// Records read (an envelope counts each record).
    pub records: u64,
    /// Records refused and written to the dead-letter file.
    pub dead_letters: u64,
    /// Records written to log files (once per trail that logs them).
    pub delivered: u64,
}

#[derive(Default)]
struct ReadCounts {
    records: u64,
    dead_letters: u64,
}

fn collect_files(path: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    if path.is_dir() {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(path)?
            .map(|e| e.map(|e| e.path()))
            .collect::<Result<_, _>>()?;
        entries.sort();
        for e in entries {
            collect_files(&e, out)?;
        }
    } else {
        out.push(path.to_path_buf());
    }
    Ok(())
}

/// Whole-file formats: CloudTrail log files are one JSON document, not lines.
fn is_whole_json(path: &Path) -> bool {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    name.ends_with(".json") || name.ends_with(".json.gz")
}

fn open(path: &Path) -> std::io::Result<Box<dyn BufRead + Send>> {
    let mut f = BufReader::with_capacity(1 << 20, std::fs::File::open(path)?);
    let gzip = f.fill_buf()?.starts_with(&[0x1f, 0x8b]);
    Ok(if gzip {
        Box::new(BufReader::with_capacity(
            1 << 20,
            flate2::bufread::MultiGzDecoder::new(f),
        ))
    } else {
        Box::new(f)
    })
}

/// Reads every file on a blocking thread, sending flows; returns each file's end offset.
fn read_files(
    files: Vec<PathBuf>,
    limits: ParseLimits,
    (budget, runtime): (MemoryBudget, tokio::runtime::Handle),
    tx: mpsc::Sender<Flow>,
) -> Result<(HashMap<Arc<PartitionId>, i64>, ReadCounts), IngestError> {
    let mut ends = HashMap::new();
    let mut counts = ReadCounts::default();
    for (i, path) in files.iter().enumerate() {
        let shown = path.display().to_string();
        let io = |source| IngestError::File {
            path: shown.clone(),
            source,
        };
        let partition = Arc::new(PartitionId {
            source: shown.as_str().into(),
            partition: 0,
        });
        let epoch = i as u64 + 1;
        let send = |flow| {
            tx.blocking_send(flow)
                .map_err(|_| IngestError::PipelineClosed)
        };
        send(Flow::Assigned {
            partition: partition.clone(),
            epoch,
            replay: false,
        })?;
        let mut reader = open(path).map_err(io)?;
        // `None` is a blank line: it carries no record, but is still sent so that offsets stay
        // contiguous.
        let mut emit = |offset: i64, bytes: Option<Bytes>| {
            let mut records = Vec::with_capacity(1);
            if let Some(bytes) = &bytes {
                parse_message(bytes, &limits, &mut records);
            }
            counts.records += records.len() as u64;
            counts.dead_letters += records.iter().filter(|r| r.is_err()).count() as u64;
            metrics::counter!(trailpipe_telemetry::RECORDS_RECEIVED, "source" => "file")
                .increment(records.len() as u64);
            let cost = MemoryBudget::cost(bytes.as_ref().map_or(0, Bytes::len), records.len());
            let held = runtime.block_on(budget.hold(cost));
            send(Flow::Message(Message {
                partition: partition.clone(),
                epoch,
                offset,
                timestamp_ms: None,
                key: None,
                read_at: std::time::Instant::now(),
                records,
                routes: Vec::new(),
                held,
            }))
        };
        let mut next = 0i64;
        if is_whole_json(path) {
            let mut all = Vec::new();
            reader.read_to_end(&mut all).map_err(io)?;
            emit(0, Some(Bytes::from(all)))?;
            next = 1;
        } else {
            let mut line = Vec::new();
            loop {
                line.clear();
                if reader.read_until(b'\n', &mut line).map_err(io)? == 0 {
                    break;
                }
                let text = line.strip_suffix(b"\n").unwrap_or(&line);
                let text = text.strip_suffix(b"\r").unwrap_or(text);
                let blank = text.iter().all(u8::is_ascii_whitespace);
                emit(next, (!blank).then(|| Bytes::copy_from_slice(text)))?;
                next += 1;
            }
        }
        send(Flow::Cut {
            partition: partition.clone(),
            epoch,
        })?;
        ends.insert(partition, next);
    }
    Ok((ends, counts))
}

/// Reads `path` (file or directory) into the pipeline and returns once everything read has been
/// acknowledged. Files without any record finish at once.
pub async fn run_file_source(
    path: PathBuf,
    limits: ParseLimits,
    budget: MemoryBudget,
    tx: mpsc::Sender<Flow>,
    mut acks: mpsc::UnboundedReceiver<Feedback>,
) -> Result<FileSourceSummary, IngestError> {
    let mut files = Vec::new();
    collect_files(&path, &mut files).map_err(|source| IngestError::File {
        path: path.display().to_string(),
        source,
    })?;
    let count = files.len();
    let mut marks = Watermarks::default();
    for (i, f) in files.iter().enumerate() {
        let p = PartitionId {
            source: f.display().to_string().into(),
            partition: 0,
        };
        marks.assign(Arc::new(p.clone()), i as u64 + 1);
        marks.begin(&p, i as u64 + 1, 0);
    }
    let (done_tx, mut done_rx) = oneshot::channel();
    let runtime = tokio::runtime::Handle::current();
    std::thread::Builder::new()
        .name("file-source".into())
        .spawn(move || {
            let _ = done_tx.send(read_files(files, limits, (budget, runtime), tx));
        })
        .map_err(|source| IngestError::File {
            path: path.display().to_string(),
            source,
        })?;
    let mut finished: Option<(HashMap<Arc<PartitionId>, i64>, ReadCounts)> = None;
    let mut delivered = 0;
    let mut acks_closed = false;
    loop {
        if let Some((ends, counts)) = &finished {
            if ends
                .iter()
                .all(|(p, &end)| end == 0 || marks.reached(p, end))
            {
                return Ok(FileSourceSummary {
                    files: count,
                    records: counts.records,
                    dead_letters: counts.dead_letters,
                    delivered,
                });
            }
        }
        if acks_closed && finished.is_some() {
            return Err(IngestError::PipelineClosed);
        }
        tokio::select! {
            result = &mut done_rx, if finished.is_none() => {
                finished = Some(result.map_err(|_| IngestError::PipelineClosed)??);
            }
            ack = acks.recv(), if !acks_closed => match ack {
                Some(Feedback::Delivered(ack)) => {
                    delivered += ack.delivered;
                    marks.ack(&ack);
                }
                // Files are read once: a conflicting cut (another writer raced this run on the
                // same input) leaves the file unfinished, and the run fails instead of guessing.
                Some(Feedback::Rewind { partition, start, .. }) => {
                    return Err(IngestError::Conflict {
                        input: partition.source.to_string(),
                        offset: start,
                    });
                }
                // Delivery ends once the reader's input ended and everything drained, possibly
                // before the reader's result is seen here: decide at the top of the loop.
                None => acks_closed = true,
            },
        }
    }
}
