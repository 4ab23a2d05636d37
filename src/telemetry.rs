//! Log output: human-readable or JSON lines, filtered by `RUST_LOG`. Request ids come from the request span.

use tracing_subscriber::{EnvFilter, fmt, layer::SubscriberExt, util::SubscriberInitExt};

use crate::config::LogFormat;

/// The filter when `RUST_LOG` is unset: Keyward at info; the libraries' per-query, per-connection and
/// scheduler start-up lines (`Uninited`, `Job creator created`) only when they warn.
pub const DEFAULT_FILTER: &str =
    "info,sqlx=warn,sea_orm=warn,poem::server=warn,tokio_cron_scheduler=warn";

pub fn init(format: LogFormat) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(DEFAULT_FILTER));
    let registry = tracing_subscriber::registry().with(filter);
    // A second initialisation (tests) keeps the first subscriber; that is fine.
    let _ = match format {
        LogFormat::Json => registry
            .with(
                fmt::layer()
                    .json()
                    .with_current_span(true)
                    .with_span_list(false),
            )
            .try_init(),
        LogFormat::Pretty => registry.with(fmt::layer().with_target(false)).try_init(),
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_documented_default_filter_is_the_one_the_code_uses() {
        let readme = include_str!("../README.md");
        assert!(readme.contains(&format!("| `RUST_LOG` | `{DEFAULT_FILTER}` |")));
        let example = include_str!("../.env.example");
        assert!(example.contains(&format!("\nRUST_LOG={DEFAULT_FILTER}\n")));
    }
}
