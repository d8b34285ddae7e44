//! The bytes of an uploaded file — in memory, or in a file on disk — and a CSV file read
//! block by block: each block the header and whole lines after it, so that a file of any
//! size is read with the memory of one block, its sha256 taken on the way.

use std::io::{Read, Seek, SeekFrom};

use bytes::Bytes;
use sha2::{Digest, Sha256};

/// An uploaded file.
#[derive(Debug)]
pub enum UploadBody {
    /// Held in memory.
    Bytes(Bytes),
    /// In a file (the command line's file, the server's spooled request body).
    File(std::fs::File),
}

impl From<Bytes> for UploadBody {
    fn from(bytes: Bytes) -> Self {
        UploadBody::Bytes(bytes)
    }
}

impl UploadBody {
    /// Its size in bytes.
    pub fn size(&self) -> std::io::Result<u64> {
        match self {
            UploadBody::Bytes(bytes) => Ok(bytes.len() as u64),
            UploadBody::File(file) => Ok(file.metadata()?.len()),
        }
    }

    /// Its first bytes, at most `n` (to tell its format).
    pub fn head(&self, n: usize) -> std::io::Result<Bytes> {
        match self {
            UploadBody::Bytes(bytes) => Ok(bytes.slice(..n.min(bytes.len()))),
            UploadBody::File(file) => {
                let mut head = Vec::with_capacity(n);
                rewound(file)?.take(n as u64).read_to_end(&mut head)?;
                Ok(head.into())
            }
        }
    }

    /// All of it, in memory.
    pub fn into_bytes(self) -> std::io::Result<Bytes> {
        match &self {
            UploadBody::Bytes(bytes) => Ok(bytes.clone()),
            UploadBody::File(file) => {
                let mut bytes = Vec::with_capacity(self.size()? as usize);
                rewound(file)?.read_to_end(&mut bytes)?;
                Ok(bytes.into())
            }
        }
    }

    /// A reader of all of it, from the start, that owns what it reads (for a thread).
    pub fn owned_reader(&self) -> std::io::Result<Box<dyn Read + Send>> {
        match self {
            UploadBody::Bytes(bytes) => Ok(Box::new(std::io::Cursor::new(bytes.clone()))),
            UploadBody::File(file) => {
                let mut file = file.try_clone()?;
                file.seek(SeekFrom::Start(0))?;
                Ok(Box::new(file))
            }
        }
    }
}

/// `file`, read from its start.
fn rewound(mut file: &std::fs::File) -> std::io::Result<&std::fs::File> {
    file.seek(SeekFrom::Start(0))?;
    Ok(file)
}

/// A CSV file read block by block: each block is the file's header line and the whole
/// lines that follow it up to about the block size, so that each reads as a file of its
/// own (its rows numbered from the header: the caller shifts them by the records of the
/// blocks before).
pub struct CsvBlocks<R> {
    reader: R,
    /// The header line, with its line break (and the byte-order mark, if any).
    header: Vec<u8>,
    /// The first block as read to find the header: it starts with the header already.
    first: Option<Vec<u8>>,
    /// Bytes read after the last whole line given.
    rest: Vec<u8>,
    at_end: bool,
    block_bytes: usize,
    digest: Sha256,
}

impl<R: Read> CsvBlocks<R> {
    /// Reads the header line; `None` when the first `block_bytes` have no line break.
    pub fn new(reader: R, block_bytes: usize) -> std::io::Result<Option<Self>> {
        let mut blocks = CsvBlocks {
            reader,
            header: Vec::new(),
            first: None,
            rest: Vec::new(),
            at_end: false,
            block_bytes: block_bytes.max(1),
            digest: Sha256::new(),
        };
        let mut first = Vec::with_capacity(blocks.block_capacity());
        blocks.fill(&mut first, blocks.block_bytes)?;
        let Some(end) = memchr::memchr(b'\n', &first) else {
            return Ok(None);
        };
        blocks.header = first[..=end].to_vec();
        blocks.first = Some(first);
        Ok(Some(blocks))
    }

    /// What a block is allocated with: the header, the block and a line or two more.
    fn block_capacity(&self) -> usize {
        self.header.len() + self.block_bytes + (1 << 20)
    }

    /// Reads into `buffer` until it holds `len` bytes or the file ends — straight into
    /// its spare capacity, which is neither zeroed nor copied first.
    fn fill(&mut self, buffer: &mut Vec<u8>, len: usize) -> std::io::Result<()> {
        if self.at_end || buffer.len() >= len {
            return Ok(());
        }
        let start = buffer.len();
        buffer.reserve(len - start);
        let read = (&mut self.reader)
            .take((len - start) as u64)
            .read_to_end(buffer);
        self.digest.update(&buffer[start..]);
        self.at_end = buffer.len() < len;
        read.map(drop)
    }

    /// The next block — the header, then whole lines — or `None` after the last. It is
    /// read into `buffer` (whatever it held), a spent block whose memory is used again.
    pub fn next_block(&mut self, mut buffer: Vec<u8>) -> std::io::Result<Option<Vec<u8>>> {
        let mut block = match self.first.take() {
            Some(first) => first,
            None => {
                buffer.clear();
                buffer.reserve(self.block_capacity());
                buffer.extend_from_slice(&self.header);
                buffer.append(&mut self.rest);
                buffer
            }
        };
        let mut wanted = self.header.len() + self.block_bytes;
        loop {
            self.fill(&mut block, wanted)?;
            let lines = &block[self.header.len()..];
            let cut = if self.at_end {
                Some(lines.len())
            } else {
                memchr::memrchr(b'\n', lines).map(|i| i + 1)
            };
            match cut {
                Some(0) => return Ok(None),
                Some(cut) => {
                    let whole = self.header.len() + cut;
                    self.rest.clear();
                    self.rest.extend_from_slice(&block[whole..]);
                    block.truncate(whole);
                    return Ok(Some(block));
                }
                // A line longer than a block makes the block longer.
                None => wanted = wanted.saturating_mul(2),
            }
        }
    }

    /// The sha256 (hex) of the whole file, once every block was read.
    pub fn sha256_hex(self) -> String {
        hex::encode(self.digest.finalize())
    }
}

/// The blocks of a CSV file read on a thread of their own, a block ahead of the caller:
/// reading and hashing the next block overlaps checking this one. Blocks the caller is
/// done with come back ([`BlocksAhead::recycle`]) to be read into again, so the file
/// goes through the same few buffers.
pub struct BlocksAhead {
    blocks: tokio::sync::mpsc::Receiver<std::io::Result<Vec<u8>>>,
    spent: std::sync::mpsc::Sender<Vec<u8>>,
    reader: std::thread::JoinHandle<std::io::Result<Option<String>>>,
}

impl BlocksAhead {
    /// Starts reading `reader` in blocks of about `block_bytes`.
    pub fn start(reader: Box<dyn Read + Send>, block_bytes: usize) -> Self {
        let (send, blocks) = tokio::sync::mpsc::channel(1);
        let (spent, spare) = std::sync::mpsc::channel::<Vec<u8>>();
        let reader = std::thread::spawn(move || {
            let Some(mut blocks) = CsvBlocks::new(reader, block_bytes)? else {
                return Ok(None);
            };
            loop {
                match blocks.next_block(spare.try_recv().unwrap_or_default()) {
                    Ok(Some(block)) => {
                        if send.blocking_send(Ok(block)).is_err() {
                            // The caller stopped reading.
                            return Ok(None);
                        }
                    }
                    Ok(None) => return Ok(Some(blocks.sha256_hex())),
                    Err(e) => {
                        let kind = e.kind();
                        let _ = send.blocking_send(Err(e));
                        return Err(kind.into());
                    }
                }
            }
        });
        BlocksAhead {
            blocks,
            spent,
            reader,
        }
    }

    /// The next block, or `None` after the last.
    pub async fn next(&mut self) -> std::io::Result<Option<Vec<u8>>> {
        self.blocks.recv().await.transpose()
    }

    /// Gives back a block the caller is done with, to read a later one into.
    pub fn recycle(&self, block: Vec<u8>) {
        // Once the reader has stopped, the block is simply freed.
        let _ = self.spent.send(block);
    }

    /// Once every block was taken: the file's sha256 (hex), or `None` when it has no
    /// line break within its first block (no header to repeat).
    pub fn finish(self) -> std::io::Result<Option<String>> {
        drop(self.blocks);
        self.reader
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blocks_of(text: &str, block_bytes: usize) -> (Vec<String>, String) {
        let mut blocks = CsvBlocks::new(text.as_bytes(), block_bytes)
            .unwrap()
            .unwrap();
        // Each block is read into the one before it, as the reader thread does.
        let (mut all, mut spent) = (Vec::new(), Vec::new());
        while let Some(block) = blocks.next_block(spent).unwrap() {
            all.push(String::from_utf8(block.clone()).unwrap());
            spent = block;
        }
        (all, blocks.sha256_hex())
    }

    #[test]
    fn every_block_is_the_header_and_whole_lines_and_together_they_are_the_file() {
        let body: String = (0..500).map(|i| format!("{i},镇{i}\r\n")).collect();
        let text = format!("\u{feff}编号,镇\r\n{body}");
        assert!(
            CsvBlocks::new(text.as_bytes(), 7).unwrap().is_none(),
            "no header within the first block"
        );
        for block_bytes in [16, 64, 1000, 1 << 20] {
            let (blocks, sha) = blocks_of(&text, block_bytes);
            assert_eq!(sha, crate::plugin::engine::sha256_hex(text.as_bytes()));
            let mut joined = String::new();
            for block in &blocks {
                let lines = block
                    .strip_prefix("\u{feff}编号,镇\r\n")
                    .expect("the header first");
                assert!(lines.ends_with('\n'), "{block_bytes}: whole lines");
                joined.push_str(lines);
            }
            assert_eq!(joined, body, "{block_bytes}");
            if block_bytes >= 1 << 20 {
                assert_eq!(blocks.len(), 1);
            } else if block_bytes >= 64 {
                assert!(blocks.len() > 1);
            }
        }
    }

    #[test]
    fn the_last_line_needs_no_line_break_and_a_file_without_one_has_no_header() {
        let (blocks, _) = blocks_of("a,b\n1,2\n3,4", 4);
        assert_eq!(blocks.concat(), "a,b\n1,2\na,b\n3,4");
        let (blocks, _) = blocks_of("a,b\n", 4);
        assert!(blocks.is_empty());
        assert!(CsvBlocks::new("a,b".as_bytes(), 100).unwrap().is_none());
    }
}
