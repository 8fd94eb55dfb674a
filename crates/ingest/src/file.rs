//! The file source: NDJSON (one record per line, optionally gzip) or CloudTrail log files
//! (`{"Records":[...]}`, `.json` / `.json.gz`), a single file or a directory tree read in path
//! order. It is the embedded default (no Kafka needed) and the way to backfill archives.
//!
//! Each file is its own partition (offset = 0-based line, or 0 for a whole-file record); the
//! source finishes when every file's watermark has reached its end, i.e. every record is in a log
//! file or in the dead-letter file.

use std::{
    collections::HashMap,
    io::{BufRead, BufReader},
    path::{Path, PathBuf},
    sync::Arc,
};

use bytes::Bytes;
use tokio::sync::{mpsc, oneshot};
use trailpipe_event::{
    parse_message, Feedback, Flow, MemoryBudget, Message, ParseLimits, PartitionId, RejectReason,
    Rejected,
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

/// Opens a file for reading, decompressing it when it starts with gzip's magic bytes (any number
/// of members).
pub fn open(path: &Path) -> std::io::Result<Box<dyn BufRead + Send>> {
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

/// One line or whole file as read.
enum Input {
    /// A blank line: no record, but an offset.
    Blank,
    /// The bytes to parse.
    Bytes(Bytes),
    /// Over `max_message_bytes`: its first bytes (for the dead letter) and its full size.
    TooLarge {
        /// The first [`TOO_LARGE_PREFIX`] bytes.
        prefix: Bytes,
        /// Its size.
        bytes: usize,
    },
}

/// Bytes of an oversized line or file kept for its dead letter (the input file keeps the rest;
/// the letter names its line).
const TOO_LARGE_PREFIX: usize = 1024;

impl Input {
    /// `buf` (what [`read_capped`] kept of an input of `total` bytes) as an input; the parser
    /// checks the size of one that was kept whole.
    fn of(mut buf: Vec<u8>, total: usize, cap: usize) -> Self {
        if total > cap + 2 {
            buf.truncate(TOO_LARGE_PREFIX);
            Self::TooLarge {
                prefix: Bytes::from(buf),
                bytes: total,
            }
        } else {
            Self::Bytes(Bytes::from(buf))
        }
    }
}

/// Reads up to and including `end` (or to the end of input when `None`) into `buf`, keeping
/// at most `cap + 2` bytes of it (a line of `cap` bytes and its `\r\n`) and skipping the rest,
/// so no line or file can take more memory than the limit; returns the full length read (0 at
/// the end of input). More than `cap + 2` means only a prefix is in `buf`.
fn read_capped(
    r: &mut dyn BufRead,
    cap: usize,
    end: Option<u8>,
    buf: &mut Vec<u8>,
) -> std::io::Result<usize> {
    let mut total = 0;
    loop {
        let chunk = r.fill_buf()?;
        if chunk.is_empty() {
            return Ok(total);
        }
        let found = end.and_then(|e| chunk.iter().position(|&b| b == e));
        let part = found.map_or(chunk.len(), |i| i + 1);
        let room = (cap + 2).saturating_sub(buf.len());
        buf.extend_from_slice(&chunk[..part.min(room)]);
        total += part;
        r.consume(part);
        if found.is_some() {
            return Ok(total);
        }
    }
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
        // `Input::TooLarge` is a line (or whole file) over `max_message_bytes`: only its first
        // bytes were kept, and it becomes one rejection naming its full size.
        let mut emit = |offset: i64, input: Input| {
            let mut records = Vec::with_capacity(1);
            let bytes = match input {
                Input::Blank => None,
                Input::Bytes(b) => {
                    parse_message(&b, &limits, &mut records);
                    Some(b)
                }
                Input::TooLarge { prefix, bytes } => {
                    records.push(Err(Rejected {
                        raw: prefix.clone(),
                        reason: RejectReason::MessageTooLarge {
                            bytes,
                            limit: limits.max_message_bytes,
                        },
                        envelope_index: None,
                    }));
                    Some(prefix)
                }
            };
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
        let cap = limits.max_message_bytes;
        if is_whole_json(path) {
            let mut all = Vec::new();
            let total = read_capped(&mut reader, cap, None, &mut all).map_err(io)?;
            emit(0, Input::of(all, total, cap))?;
            next = 1;
        } else {
            let mut line = Vec::new();
            loop {
                line.clear();
                let total = read_capped(&mut reader, cap, Some(b'\n'), &mut line).map_err(io)?;
                if total == 0 {
                    break;
                }
                if total > cap + 2 {
                    emit(next, Input::of(std::mem::take(&mut line), total, cap))?;
                    next += 1;
                    continue;
                }
                let text = line.strip_suffix(b"\n").unwrap_or(&line);
                let text = text.strip_suffix(b"\r").unwrap_or(text);
                let blank = text.iter().all(u8::is_ascii_whitespace);
                emit(
                    next,
                    if blank {
                        Input::Blank
                    } else {
                        Input::Bytes(Bytes::copy_from_slice(text))
                    },
                )?;
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

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(input: &[u8], cap: usize) -> Vec<(usize, Vec<u8>)> {
        let mut r = std::io::Cursor::new(input.to_vec());
        let mut out = Vec::new();
        loop {
            let mut buf = Vec::new();
            let total = read_capped(&mut r, cap, Some(b'\n'), &mut buf).expect("read");
            if total == 0 {
                return out;
            }
            out.push((total, buf));
        }
    }

    #[test]
    fn long_lines_are_read_to_their_end_but_kept_only_up_to_the_cap() {
        let mut input = b"short\n".to_vec();
        input.extend(std::iter::repeat_n(b'x', 100_000));
        input.extend_from_slice(b"\r\nexact\r\nlast");
        let got = lines(&input, 5);
        assert_eq!(got.len(), 4);
        assert_eq!(got[0], (6, b"short\n".to_vec()));
        // 100,002 bytes read, 7 kept (cap + 2), the next line intact.
        assert_eq!((got[1].0, got[1].1.len()), (100_002, 7));
        assert_eq!(got[2], (7, b"exact\r\n".to_vec()));
        assert_eq!(got[3], (4, b"last".to_vec()));
        match Input::of(got[1].1.clone(), got[1].0, 5) {
            Input::TooLarge { prefix, bytes } => assert_eq!((prefix.len(), bytes), (7, 100_002)),
            _ => panic!("not too large"),
        }
        assert!(matches!(
            Input::of(got[2].1.clone(), got[2].0, 5),
            Input::Bytes(_)
        ));
    }

    #[test]
    fn a_whole_file_over_the_cap_keeps_a_prefix() {
        let mut r = std::io::Cursor::new(vec![b'{'; 3 * TOO_LARGE_PREFIX]);
        let mut buf = Vec::new();
        let total = read_capped(&mut r, 2 * TOO_LARGE_PREFIX, None, &mut buf).expect("read");
        assert_eq!(
            (total, buf.len()),
            (3 * TOO_LARGE_PREFIX, 2 * TOO_LARGE_PREFIX + 2)
        );
        match Input::of(buf, total, 2 * TOO_LARGE_PREFIX) {
            Input::TooLarge { prefix, bytes } => {
                assert_eq!(
                    (prefix.len(), bytes),
                    (TOO_LARGE_PREFIX, 3 * TOO_LARGE_PREFIX)
                )
            }
            _ => panic!("not too large"),
        }
    }
}
