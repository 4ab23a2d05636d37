//! The human-readable log line without colours, the one the server writes for every request: the same text,
//! byte for byte, as tracing-subscriber's default format with colours off and no target, at less than half its
//! cost. That format styles every span name, brace, colon and field name even with colours off (an empty style is
//! still formatted), writes the timestamp as seven padded integers, and escapes a message one character at
//! a time: 7 000 of the 64 000 instructions of a `/healthz` request went there (`bench/README.md`).

use std::{
    fmt::{self, Write as _},
    time::{SystemTime, UNIX_EPOCH},
};

use tracing::{Event, Subscriber, field::Field};
use tracing_subscriber::{
    field::{RecordFields, Visit},
    fmt::{
        FmtContext, FormatEvent, FormatFields, FormattedFields,
        format::Writer,
        time::{self, FormatTime},
    },
    registry::LookupSpan,
};

/// Formats events: `<time> <level> <span>{<fields>}:<span>{<fields>}: <message> <name>=<value>…`.
pub struct PlainLine;

/// Formats the fields of events and spans: the message first, then `name=value` with the value's `Debug`.
pub struct PlainFields;

impl<S, N> FormatEvent<S, N> for PlainLine
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        write_timestamp(&mut writer, SystemTime::now())?;
        // Levels are padded to five characters, as the default format pads them.
        writer.write_str(match *event.metadata().level() {
            tracing::Level::TRACE => "TRACE ",
            tracing::Level::DEBUG => "DEBUG ",
            tracing::Level::INFO => " INFO ",
            tracing::Level::WARN => " WARN ",
            tracing::Level::ERROR => "ERROR ",
        })?;
        if let Some(scope) = ctx.event_scope() {
            let mut seen = false;
            for span in scope.from_root() {
                seen = true;
                writer.write_str(span.metadata().name())?;
                let ext = span.extensions();
                if let Some(fields) = ext.get::<FormattedFields<N>>()
                    && !fields.fields.is_empty()
                {
                    writer.write_char('{')?;
                    writer.write_str(&fields.fields)?;
                    writer.write_char('}')?;
                }
                writer.write_char(':')?;
            }
            if seen {
                writer.write_char(' ')?;
            }
        }
        ctx.format_fields(writer.by_ref(), event)?;
        writer.write_char('\n')
    }
}

impl<'w> FormatFields<'w> for PlainFields {
    fn format_fields<R: RecordFields>(&self, mut writer: Writer<'w>, fields: R) -> fmt::Result {
        let mut visitor = Visitor {
            writer: Staged {
                bytes: [0; STAGED],
                len: 0,
                out: &mut writer,
            },
            first: true,
            result: Ok(()),
        };
        fields.record(&mut visitor);
        visitor.result?;
        visitor.writer.flush()
    }
}

/// Bytes of fields gathered before they are written: a request span's fields (about 130) fit.
const STAGED: usize = 256;

/// Gathers small writes and passes them on in one piece. A span's fields are written into a `String` of their
/// own, which would otherwise grow (and be copied) five times on the way to a request span's 130 bytes.
struct Staged<W> {
    bytes: [u8; STAGED],
    len: usize,
    out: W,
}

impl<W: fmt::Write> Staged<W> {
    fn flush(&mut self) -> fmt::Result {
        // Whole `str`s only were copied in, so the bytes are UTF-8.
        let text = std::str::from_utf8(&self.bytes[..self.len]).map_err(|_| fmt::Error)?;
        self.len = 0;
        self.out.write_str(text)
    }
}

impl<W: fmt::Write> fmt::Write for Staged<W> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        if self.len + s.len() > STAGED {
            self.flush()?;
            if s.len() > STAGED {
                return self.out.write_str(s);
            }
        }
        self.bytes[self.len..self.len + s.len()].copy_from_slice(s.as_bytes());
        self.len += s.len();
        Ok(())
    }
}

struct Visitor<W> {
    writer: W,
    first: bool,
    result: fmt::Result,
}

impl<W: fmt::Write> Visitor<W> {
    fn write(&mut self, field: &Field, value: &dyn fmt::Debug) -> fmt::Result {
        let name = field.name();
        // Records of the `log` crate carry their metadata as `log.*` fields; the line shows it already.
        if name.starts_with("log.") {
            return Ok(());
        }
        if !std::mem::take(&mut self.first) {
            self.writer.write_char(' ')?;
        }
        if name == "message" {
            return write!(Escaped(&mut self.writer), "{value:?}");
        }
        self.writer
            .write_str(name.strip_prefix("r#").unwrap_or(name))?;
        self.writer.write_char('=')?;
        write!(self.writer, "{value:?}")
    }
}

impl<W: fmt::Write> Visit for Visitor<W> {
    fn record_str(&mut self, field: &Field, value: &str) {
        if self.result.is_ok() {
            self.result = if field.name() == "message" {
                self.write(field, &format_args!("{value}"))
            } else {
                self.write(field, &value)
            };
        }
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        if self.result.is_ok() {
            self.result = match value.source() {
                Some(source) => self.write(
                    field,
                    &format_args!(
                        "{} {}.sources={}",
                        EscapedDisplay(value),
                        field.name(),
                        Sources(source)
                    ),
                ),
                None => self.write(field, &format_args!("{}", EscapedDisplay(value))),
            };
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if self.result.is_ok() {
            self.result = self.write(field, value);
        }
    }
}

/// An error's chain of sources, as a list.
struct Sources<'a>(&'a (dyn std::error::Error + 'static));

impl fmt::Display for Sources<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut list = f.debug_list();
        let mut next = Some(self.0);
        while let Some(err) = next {
            list.entry(&format_args!("{}", EscapedDisplay(err)));
            next = err.source();
        }
        list.finish()
    }
}

/// Text of an error with the terminal's control characters escaped, as the default format escapes them.
struct EscapedDisplay<'a>(&'a dyn fmt::Display);

impl fmt::Display for EscapedDisplay<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(Escaped(f), "{}", self.0)
    }
}

/// Writes through, escaping what a terminal would act on (ESC, BEL, BS, FF, DEL and the C1 controls) so a value
/// cannot rewrite the operator's screen; runs without such characters are written at once.
struct Escaped<W>(W);

impl<W: fmt::Write> fmt::Write for Escaped<W> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let mut clean = 0;
        for (i, ch) in s.char_indices() {
            let code = ch as u32;
            if !matches!(code, 0x1b | 0x07 | 0x08 | 0x0c | 0x7f | 0x80..=0x9f) {
                continue;
            }
            self.0.write_str(&s[clean..i])?;
            if code < 0x80 {
                write!(self.0, "\\x{code:02x}")?;
            } else {
                write!(self.0, "\\u{{{code:x}}}")?;
            }
            clean = i + ch.len_utf8();
        }
        self.0.write_str(&s[clean..])
    }
}

/// `2026-12-02T17:37:39.835026Z `: UTC to the microsecond, then a space. Times before 1970 or after 9999,
/// which a wrong clock could give, are left to tracing-subscriber's own clock.
fn write_timestamp(writer: &mut Writer<'_>, now: SystemTime) -> fmt::Result {
    let since_epoch = now.duration_since(UNIX_EPOCH).ok();
    let Some(text) = since_epoch.and_then(|d| rfc3339_micros(d.as_secs(), d.subsec_micros()))
    else {
        if time::SystemTime.format_time(writer).is_err() {
            writer.write_str("<unknown time>")?;
        }
        return writer.write_char(' ');
    };
    // Only ASCII digits and separators were written.
    writer.write_str(std::str::from_utf8(&text).map_err(|_| fmt::Error)?)?;
    writer.write_char(' ')
}

/// The seconds since 1970 and the microseconds as `YYYY-MM-DDTHH:MM:SS.ffffffZ`; none beyond year 9999.
fn rfc3339_micros(secs: u64, micros: u32) -> Option<[u8; 27]> {
    let (days, of_day) = (secs / 86_400, secs % 86_400);
    let (year, month, day) = civil_from_days(days);
    if year > 9999 {
        return None;
    }
    let mut out = *b"0000-00-00T00:00:00.000000Z";
    let mut put = |at: usize, width: usize, mut value: u64| {
        for slot in out[at..at + width].iter_mut().rev() {
            *slot = b'0' + (value % 10) as u8;
            value /= 10;
        }
    };
    put(0, 4, year);
    put(5, 2, month);
    put(8, 2, day);
    put(11, 2, of_day / 3600);
    put(14, 2, of_day % 3600 / 60);
    put(17, 2, of_day % 60);
    put(20, 6, u64::from(micros));
    Some(out)
}

/// Year, month and day of a day counted from 1970-01-01 in the proleptic Gregorian calendar (Howard Hinnant's
/// `civil_from_days`, for days on or after the epoch).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + u64::from(month <= 2), month, day)
}

#[cfg(test)]
mod tests {
    use std::{
        io,
        sync::{Arc, Mutex},
    };

    use tracing_subscriber::{fmt, layer::SubscriberExt};

    use super::*;

    #[test]
    fn timestamps_match_the_calendar() {
        // Every day from 1970 to 2400 at a varying second, against chrono's calendar.
        for days in 0..156_000u64 {
            let secs = days * 86_400 + (days * 7_919) % 86_400;
            let micros = (days * 104_729 % 1_000_000) as u32;
            let text = rfc3339_micros(secs, micros).unwrap();
            let expected = chrono::DateTime::from_timestamp(secs as i64, micros * 1000)
                .unwrap()
                .format("%Y-%m-%dT%H:%M:%S%.6fZ")
                .to_string();
            assert_eq!(std::str::from_utf8(&text).unwrap(), expected);
        }
        assert!(rfc3339_micros(253_402_300_799, 999_999).is_some());
        assert!(rfc3339_micros(253_402_300_800, 0).is_none());
    }

    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl io::Write for Buffer {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl fmt::MakeWriter<'_> for Buffer {
        type Writer = Buffer;
        fn make_writer(&self) -> Buffer {
            self.clone()
        }
    }

    #[derive(Debug)]
    struct Outer(Inner);
    #[derive(Debug)]
    struct Inner;
    impl std::fmt::Display for Outer {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("outer \u{1b}[31mred")
        }
    }
    impl std::fmt::Display for Inner {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("inner \u{9b}")
        }
    }
    impl std::error::Error for Outer {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.0)
        }
    }
    impl std::error::Error for Inner {}

    /// Every kind of line the server writes, logged once through each format.
    fn log_lines() {
        let uri = "/x?a=b";
        let span =
            tracing::error_span!("request", request_id = %"id-1", method = %"GET", uri = %uri);
        let _entered = span.enter();
        tracing::info!(status = 200u16, duration = ?std::time::Duration::from_micros(1234), "response");
        let empty = tracing::info_span!("empty");
        let _inner = empty.enter();
        tracing::warn!(
            r#type = "t",
            text = "quo\"te\u{7}",
            n = -3i64,
            f = 1.5f64,
            b = true,
            "two\u{1b}[2J"
        );
        tracing::error!(
            error = &Outer(Inner) as &(dyn std::error::Error + 'static),
            "failed"
        );
        tracing::debug!(plain = %"display \u{1b}", "é\u{85}x");
        tracing::trace!(message = "a message as a field");
        tracing::info!(ignored = 1, log.target = "kept out", "with a log field");
        // Past what is gathered before being written: a field that overflows it, and one larger than it.
        tracing::info!(half = %"h".repeat(200), long = %"l".repeat(300), "long fields");
    }

    fn capture(subscriber: impl Subscriber + Send + Sync) {
        tracing::subscriber::with_default(subscriber, log_lines);
    }

    fn lines(buffer: &Buffer) -> Vec<String> {
        let text = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
        text.lines().map(str::to_owned).collect()
    }

    #[test]
    fn lines_are_those_of_the_default_format_without_colours() {
        let (ours, theirs) = (Buffer::default(), Buffer::default());
        capture(
            tracing_subscriber::registry().with(
                fmt::layer()
                    .with_writer(ours.clone())
                    .with_ansi(false)
                    .event_format(PlainLine)
                    .fmt_fields(PlainFields),
            ),
        );
        capture(
            tracing_subscriber::registry().with(
                fmt::layer()
                    .with_writer(theirs.clone())
                    .with_ansi(false)
                    .with_target(false),
            ),
        );
        let (ours, theirs) = (lines(&ours), lines(&theirs));
        assert_eq!(ours.len(), 7, "{ours:#?}");
        assert_eq!(ours.len(), theirs.len());
        for (a, b) in ours.iter().zip(&theirs) {
            // The same format up to the clock: a timestamp of the same length, then the same text.
            let (stamp, rest) = a.split_at(27);
            assert!(stamp.ends_with('Z') && stamp.as_bytes()[10] == b'T', "{a}");
            assert_eq!(rest, &b[27..]);
        }
        assert!(ours[1].contains("two\\x1b[2J"), "{}", ours[1]);
    }
}
