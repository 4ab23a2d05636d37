//! Request bodies over the limit get 413 before anything reads them. Declared lengths are checked up front;
//! chunked bodies are read up to the limit and no further.

use poem::{Body, Request, Response, Result, http::header};

use crate::error::{Problem, ProblemType};

/// Refuses a body over `max_bytes` with 413: a declared length up front, a chunked body once reading it passes
/// the limit (it is then held in memory, at most `max_bytes`, for the operation).
pub async fn enforce(req: &mut Request, max_bytes: usize) -> Result<Option<Response>> {
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    match declared {
        Some(len) if len > max_bytes as u64 => return Ok(Some(too_large(max_bytes))),
        Some(_) => {}
        None if req.headers().contains_key(header::TRANSFER_ENCODING) => {
            // Boxed: reading a body is a large future, and only chunked bodies need it here.
            match Box::pin(req.take_body().into_bytes_limit(max_bytes)).await {
                Ok(bytes) => req.set_body(Body::from(bytes)),
                Err(poem::error::ReadBodyError::PayloadTooLarge) => {
                    return Ok(Some(too_large(max_bytes)));
                }
                Err(err) => return Err(err.into()),
            }
        }
        None => {}
    }
    Ok(None)
}

fn too_large(max_bytes: usize) -> Response {
    Problem::new(
        ProblemType::PayloadTooLarge,
        format!("request bodies are limited to {max_bytes} bytes"),
    )
    .into_response()
}
