//! Log output: human-readable or JSON lines, filtered by `RUST_LOG`. Request ids come from the request span.

mod batched;
mod plain;

use std::io::{self, IsTerminal};

use tracing_subscriber::{
    EnvFilter, fmt, fmt::writer::EitherWriter, layer::SubscriberExt, util::SubscriberInitExt,
};

use crate::config::LogFormat;

pub use batched::Flush;

/// The filter when `RUST_LOG` is unset: Keyward at info; the libraries' per-query, per-connection and
/// scheduler start-up lines (`Uninited`, `Job creator created`) only when they warn.
pub const DEFAULT_FILTER: &str =
    "info,sqlx=warn,sea_orm=warn,poem::server=warn,tokio_cron_scheduler=warn";

/// Where log lines go: stdout, through the batching writer thread for the server (a line per request), directly
/// for the one-shot commands (their lines stay in order with what they print).
#[derive(Clone)]
struct Out(Option<batched::BatchedStdout>);

impl<'a> fmt::MakeWriter<'a> for Out {
    type Writer = EitherWriter<batched::BatchedStdout, io::Stdout>;

    fn make_writer(&'a self) -> Self::Writer {
        match &self.0 {
            Some(batched) => EitherWriter::A(batched.clone()),
            None => EitherWriter::B(io::stdout()),
        }
    }
}

/// Installs the subscriber, writing to stdout directly (the one-shot commands).
pub fn init(format: LogFormat) {
    install(format, Out(None));
}

/// Installs the subscriber for the server: lines are written by a thread of their own. The returned guard
/// writes what is pending when dropped (hold it until the process ends). Without a thread, as [`init`].
pub fn init_batched(format: LogFormat) -> Option<Flush> {
    let Some((writer, flush)) = batched::BatchedStdout::start() else {
        init(format);
        return None;
    };
    install(format, Out(Some(writer)));
    Some(flush)
}

fn install(format: LogFormat, out: Out) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(DEFAULT_FILTER));
    let registry = tracing_subscriber::registry().with(filter);
    // A second initialisation (tests) keeps the first subscriber; that is fine.
    let _ = match format {
        LogFormat::Json => registry
            .with(
                fmt::layer()
                    .with_writer(out)
                    .json()
                    .with_current_span(true)
                    .with_span_list(false),
            )
            .try_init(),
        LogFormat::Pretty if colours() => registry
            .with(
                fmt::layer()
                    .with_writer(out)
                    .with_target(false)
                    .with_ansi(true),
            )
            .try_init(),
        // The same text without colours, formatted at a fraction of the cost: the line of every request.
        LogFormat::Pretty => registry
            .with(
                fmt::layer()
                    .with_writer(out)
                    .with_ansi(false)
                    .event_format(plain::PlainLine)
                    .fmt_fields(plain::PlainFields),
            )
            .try_init(),
    };
}

/// Colours for a terminal only: in a file or a log collector the escape codes are noise, written for every
/// request. `NO_COLOR` turns them off anywhere.
fn colours() -> bool {
    io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_documented_default_filter_is_the_one_the_code_uses() {
        let readme = include_str!("../../README.md");
        assert!(readme.contains(&format!("| `RUST_LOG` | `{DEFAULT_FILTER}` |")));
        let example = include_str!("../../.env.example");
        assert!(example.contains(&format!("\nRUST_LOG={DEFAULT_FILTER}\n")));
    }
}
