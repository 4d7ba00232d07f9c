//! `write_tmp_bytes` (disk usage and writes) and `open_files` (file descriptors).

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::SampleError;

/// The file `write_tmp_bytes` (re)writes. It stays on disk between invocations.
pub(crate) const TMP_FILE_NAME: &str = "lambda-lens-sample.bin";
/// The file the `open_files` handles point at.
pub(crate) const HANDLES_FILE_NAME: &str = "lambda-lens-sample.handles";
/// Write size for the temporary file.
const CHUNK: usize = 64 * 1024;

/// Replaces `dir/lambda-lens-sample.bin` with a file of exactly `bytes` bytes and syncs it to
/// disk, so both disk usage and block writes move. `0` truncates the file to empty.
pub(crate) fn write_tmp(dir: &Path, bytes: u64) -> Result<PathBuf, SampleError> {
    let path = dir.join(TMP_FILE_NAME);
    let failed = |what: &str, error| SampleError::resource(format!("{what} {}", path.display()), error);
    let mut file = File::create(&path).map_err(|error| failed("creating", error))?;
    let chunk: Vec<u8> = (0..CHUNK).map(|index| (index % 251) as u8).collect();
    let mut left = bytes;
    while left > 0 {
        let size = usize::try_from(left).map_or(CHUNK, |left| left.min(CHUNK));
        let part = chunk.get(..size).unwrap_or(&chunk);
        file.write_all(part).map_err(|error| failed("writing", error))?;
        left -= part.len() as u64;
    }
    file.sync_all().map_err(|error| failed("syncing", error))?;
    Ok(path)
}

/// Opens `count` separate handles on `dir/lambda-lens-sample.handles` (created if missing).
/// They stay open until the returned vector is dropped. Past the descriptor limit (1,024 on
/// Lambda) this fails with `SampleFunction.ResourceError` (EMFILE).
pub(crate) fn open_handles(dir: &Path, count: u64) -> Result<Vec<File>, SampleError> {
    let path = dir.join(HANDLES_FILE_NAME);
    let mut handles = Vec::new();
    for index in 1..=count {
        let handle = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|error| {
                SampleError::resource(
                    format!("opening file handle {index} of {count} on {}", path.display()),
                    error,
                )
            })?;
        handles.push(handle);
    }
    Ok(handles)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("sample-function-test-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn writes_exactly_n_bytes_and_overwrites() {
        let dir = scratch_dir("tmp");
        let path = write_tmp(&dir, 200_001).unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 200_001);
        write_tmp(&dir, 10).unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 10);
        write_tmp(&dir, 0).unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 0);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn opens_distinct_handles() {
        let dir = scratch_dir("handles");
        let handles = open_handles(&dir, 5).unwrap();
        assert_eq!(handles.len(), 5);
        drop(handles);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_missing_directory_is_a_resource_error() {
        let error = write_tmp(Path::new("/nonexistent-sample-function-dir"), 1).unwrap_err();
        assert!(matches!(error, SampleError::Resource { .. }));
        assert!(
            error
                .to_string()
                .starts_with("creating /nonexistent-sample-function-dir/")
        );
    }
}
