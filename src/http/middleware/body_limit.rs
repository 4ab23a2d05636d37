//! Request bodies over the limit get 413 before anything reads them. Declared lengths are checked up front;
//! chunked bodies are read up to the limit and no further.

use poem::{Body, Endpoint, IntoResponse, Middleware, Request, Response, Result, http::header};

use crate::error::{Problem, ProblemType};

pub struct BodyLimit {
    pub max_bytes: usize,
}

impl<E: Endpoint> Middleware<E> for BodyLimit {
    type Output = BodyLimitEndpoint<E>;

    fn transform(&self, inner: E) -> Self::Output {
        BodyLimitEndpoint {
            inner,
            max_bytes: self.max_bytes,
        }
    }
}

pub struct BodyLimitEndpoint<E> {
    inner: E,
    max_bytes: usize,
}

impl<E: Endpoint> BodyLimitEndpoint<E> {
    fn too_large(&self) -> Response {
        Problem::new(
            ProblemType::PayloadTooLarge,
            format!("request bodies are limited to {} bytes", self.max_bytes),
        )
        .into_response()
    }
}

impl<E: Endpoint> Endpoint for BodyLimitEndpoint<E> {
    type Output = Response;

    async fn call(&self, mut req: Request) -> Result<Self::Output> {
        let declared = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        match declared {
            Some(len) if len > self.max_bytes as u64 => return Ok(self.too_large()),
            Some(_) => {}
            None if req.headers().contains_key(header::TRANSFER_ENCODING) => {
                match req.take_body().into_bytes_limit(self.max_bytes).await {
                    Ok(bytes) => req.set_body(Body::from(bytes)),
                    Err(poem::error::ReadBodyError::PayloadTooLarge) => return Ok(self.too_large()),
                    Err(err) => return Err(err.into()),
                }
            }
            None => {}
        }
        Ok(self.inner.call(req).await?.into_response())
    }
}
