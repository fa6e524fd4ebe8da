//! Decoding a compressed page for the rewrite without ever losing it.
//!
//! A body that claims a content coding may not be in it: not compressed at all,
//! `deflate` sent as raw DEFLATE rather than zlib (browsers read both), a gzip stream
//! whose trailer was cut off, an empty body. The rewrite must not turn such a page
//! into an empty reply. So:
//!
//! - `deflate` is read as zlib or as raw DEFLATE, whichever its first bytes say
//!   ([`DeflateDecoder`]), as browsers do.
//! - Until the decoder has produced its first byte, the raw bytes it was given are
//!   kept ([`Source`], at most [`MAX_KEPT`]). If it fails before that, the body is sent
//!   on as it came, coding and all ([`Fallback`]): the visitor gets what the upstream
//!   sent, without the link.
//! - If it fails after that, the page is cut short or corrupt further on: what was
//!   decoded is rewritten and re-encoded, and the body ends there, well-formed
//!   ([`Decoded`]), which is what a browser shows of such a page.
//! - An upstream that fails while sending (a transport error, not a decoding one) is
//!   passed on as an error in every case, so the client sees the body was cut; after
//!   the first decoded byte, only once what was decoded has gone out rewritten and
//!   re-encoded whole, so the client can still read it.

use std::collections::VecDeque;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, ready};

use async_compression::tokio::bufread as codec;
use bytes::Bytes;
use futures_util::Stream;
use hyper::body::Body as _;
use tokio::io::{AsyncBufRead, AsyncRead, ReadBuf};

use super::Coding;
use crate::Body;

/// The most raw bytes kept while waiting for the decoder's first output. Decoders
/// produce output within the first block of a valid stream, far below this; past it,
/// a failure can no longer fall back and aborts the body instead.
const MAX_KEPT: usize = 256 * 1024;

/// The upstream's body, shared by the decoder's input ([`Tee`]) and [`Fallback`].
#[derive(Clone)]
pub(super) struct Source(Arc<Mutex<SourceState>>);

struct SourceState {
    body: Body,
    /// Raw chunks read so far, while `keeping`.
    kept: VecDeque<Bytes>,
    kept_bytes: usize,
    /// Cleared once the decoder has produced output (a later failure ends the body,
    /// it does not fall back) or past [`MAX_KEPT`].
    keeping: bool,
    /// The upstream body itself failed.
    upstream_failed: bool,
}

impl Source {
    pub(super) fn new(body: Body) -> Source {
        Source(Arc::new(Mutex::new(SourceState {
            body,
            kept: VecDeque::new(),
            kept_bytes: 0,
            keeping: true,
            upstream_failed: false,
        })))
    }

    fn lock(&self) -> MutexGuard<'_, SourceState> {
        // Poisoned only if a poll panicked, and the state is plain data: go on.
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The decoder's input: the upstream's data, kept as it passes.
    pub(super) fn tee(&self) -> Tee {
        Tee(self.clone())
    }
}

impl SourceState {
    /// The next data chunk of the upstream body (trailers are dropped, as before).
    fn poll_data(&mut self, cx: &mut Context<'_>) -> Poll<Option<io::Result<Bytes>>> {
        loop {
            match ready!(Pin::new(&mut self.body).poll_frame(cx)) {
                None => return Poll::Ready(None),
                Some(Err(e)) => {
                    self.upstream_failed = true;
                    return Poll::Ready(Some(Err(io::Error::other(e))));
                }
                Some(Ok(frame)) => {
                    if let Ok(data) = frame.into_data() {
                        return Poll::Ready(Some(Ok(data)));
                    }
                }
            }
        }
    }

    fn keep(&mut self, data: &Bytes) {
        if !self.keeping {
            return;
        }
        self.kept_bytes += data.len();
        if self.kept_bytes > MAX_KEPT {
            self.stop_keeping();
        } else {
            self.kept.push_back(data.clone());
        }
    }

    fn stop_keeping(&mut self) {
        self.keeping = false;
        self.kept = VecDeque::new();
    }
}

/// The upstream's data for the decoder.
pub(super) struct Tee(Source);

impl Stream for Tee {
    type Item = io::Result<Bytes>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let mut state = self.0.lock();
        let next = ready!(state.poll_data(cx));
        if let Some(Ok(data)) = &next {
            state.keep(data);
        }
        Poll::Ready(next)
    }
}

/// The decoder's output. It marks the first decoded byte (from then on the raw bytes
/// need not be kept) and ends the stream at a decoding failure that comes after it.
pub(super) struct Decoded<S> {
    decoded: S,
    source: Source,
    coding: Coding,
    decoded_some: bool,
}

impl<S> Decoded<S> {
    pub(super) fn new(decoded: S, source: Source, coding: Coding) -> Self {
        Decoded {
            decoded,
            source,
            coding,
            decoded_some: false,
        }
    }
}

impl<S: Stream<Item = io::Result<Bytes>> + Unpin> Stream for Decoded<S> {
    type Item = io::Result<Bytes>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        match ready!(Pin::new(&mut self.decoded).poll_next(cx)) {
            Some(Ok(bytes)) => {
                if !self.decoded_some && !bytes.is_empty() {
                    self.decoded_some = true;
                    self.source.lock().stop_keeping();
                }
                Poll::Ready(Some(Ok(bytes)))
            }
            Some(Err(error)) => {
                if !self.decoded_some {
                    // Passed up: a transport error aborts the body, a decoding one
                    // before any output makes [`Fallback`] send the body as it came.
                    return Poll::Ready(Some(Err(error)));
                }
                if self.source.lock().upstream_failed {
                    // The page ends here, rewritten and re-encoded whole (the link
                    // in, the encoder's trailer written); [`Fallback`] then cuts the
                    // response short, as the upstream cut its own.
                    return Poll::Ready(None);
                }
                tracing::warn!(
                    coding = ?self.coding,
                    %error,
                    "the page's compressed body is cut short or corrupt; \
                     sending what could be decoded"
                );
                Poll::Ready(None)
            }
            None => Poll::Ready(None),
        }
    }
}

/// The rewritten body, or the upstream's as it came when it could not be decoded.
pub(super) struct Fallback<S> {
    rewritten: S,
    source: Source,
    coding: Coding,
    /// Sending the upstream's body unchanged: first what the decoder was given.
    passing_through: Option<VecDeque<Bytes>>,
}

impl<S> Fallback<S> {
    pub(super) fn new(rewritten: S, source: Source, coding: Coding) -> Self {
        Fallback {
            rewritten,
            source,
            coding,
            passing_through: None,
        }
    }
}

impl<S: Stream<Item = io::Result<Bytes>> + Unpin> Stream for Fallback<S> {
    type Item = io::Result<Bytes>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        loop {
            if let Some(kept) = &mut this.passing_through {
                if let Some(bytes) = kept.pop_front() {
                    return Poll::Ready(Some(Ok(bytes)));
                }
                return this.source.lock().poll_data(cx);
            }
            match ready!(Pin::new(&mut this.rewritten).poll_next(cx)) {
                Some(Err(error)) => {
                    let mut state = this.source.lock();
                    if state.upstream_failed || !state.keeping {
                        return Poll::Ready(Some(Err(error)));
                    }
                    tracing::warn!(
                        coding = ?this.coding,
                        %error,
                        "the page's body is not in the coding it claims; \
                         sending it as it came, without the link"
                    );
                    state.keeping = false;
                    this.passing_through = Some(std::mem::take(&mut state.kept));
                }
                None if this.source.lock().upstream_failed => {
                    return Poll::Ready(Some(Err(io::Error::other(
                        "the upstream's body broke off",
                    ))));
                }
                other => return Poll::Ready(other),
            }
        }
    }
}

/// `deflate` as browsers read it: zlib-wrapped (RFC 9110 §8.4.1.2), or raw DEFLATE
/// as some servers send it, told apart by the zlib header (RFC 1950 §2.2).
pub(super) enum DeflateDecoder<R> {
    Undecided(Option<R>),
    Zlib(codec::ZlibDecoder<R>),
    Raw(codec::DeflateDecoder<R>),
}

impl<R> DeflateDecoder<R> {
    pub(super) fn new(input: R) -> Self {
        DeflateDecoder::Undecided(Some(input))
    }
}

/// Whether a stream starting with `start` has a zlib header: compression method 8
/// with a window of at most 32 KiB, and a check that makes the first two bytes a
/// multiple of 31. A raw DEFLATE stream passes both by chance rarely.
fn looks_like_zlib(start: &[u8]) -> bool {
    match start {
        [] => true,
        [cmf] => cmf & 0x0f == 8 && cmf >> 4 <= 7,
        [cmf, flg, ..] => {
            cmf & 0x0f == 8 && cmf >> 4 <= 7 && (u16::from(*cmf) << 8 | u16::from(*flg)) % 31 == 0
        }
    }
}

impl<R: AsyncBufRead + Unpin> AsyncRead for DeflateDecoder<R> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        loop {
            match this {
                DeflateDecoder::Undecided(input) => {
                    let Some(reader) = input.as_mut() else {
                        return Poll::Ready(Err(io::Error::other("deflate decoder reused")));
                    };
                    let zlib = looks_like_zlib(ready!(Pin::new(reader).poll_fill_buf(cx))?);
                    let Some(reader) = input.take() else {
                        return Poll::Ready(Err(io::Error::other("deflate decoder reused")));
                    };
                    *this = if zlib {
                        DeflateDecoder::Zlib(codec::ZlibDecoder::new(reader))
                    } else {
                        DeflateDecoder::Raw(codec::DeflateDecoder::new(reader))
                    };
                }
                DeflateDecoder::Zlib(decoder) => return Pin::new(decoder).poll_read(cx, buf),
                DeflateDecoder::Raw(decoder) => return Pin::new(decoder).poll_read(cx, buf),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tells_a_zlib_header_from_raw_deflate() {
        // What zlib writes at levels 1, 6 (default) and 9.
        for header in [[0x78, 0x01], [0x78, 0x9c], [0x78, 0xda]] {
            assert!(looks_like_zlib(&header), "{header:02x?}");
        }
        // Raw DEFLATE: a final stored block, a fixed-Huffman block, a dynamic one.
        for start in [[0x01, 0x05], [0x4b, 0x4c], [0xed, 0x9d], [0xf3, 0x48]] {
            assert!(!looks_like_zlib(&start), "{start:02x?}");
        }
    }
}
