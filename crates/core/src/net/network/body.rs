//! Bounded reads of answers from outside (the Alert API, forward
//! endpoints, tunnel agents): a body is read chunk by chunk and given up
//! past a cap, so a peer streaming without end costs at most the cap in
//! memory and never holds a task beyond the client's own deadline.
//!
//! Must not: retry, or judge what the body says.

/// Why a body could not be read whole.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    /// More than `cap` bytes: reading stopped there (the connection is
    /// dropped with the response).
    #[error("the answer passed {} KiB; reading stopped there", .cap / 1024)]
    TooLarge { cap: usize },
    /// The transport failed mid-body (a timeout, a reset).
    #[error(transparent)]
    Read(#[from] reqwest::Error),
}

/// The body of `response`, at most `cap` bytes (bytes). Errors: more than
/// `cap` bytes ([`BodyError::TooLarge`], found at the first chunk past it,
/// before it is kept) or a failed read.
pub async fn read_capped(
    mut response: reqwest::Response,
    cap: usize,
) -> Result<bytes::Bytes, BodyError> {
    if response.content_length().is_some_and(|n| n > cap as u64) {
        return Err(BodyError::TooLarge { cap });
    }
    let mut body = bytes::BytesMut::new();
    while let Some(chunk) = response.chunk().await? {
        if body.len() + chunk.len() > cap {
            return Err(BodyError::TooLarge { cap });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}
