//! What a login produces: a started login, the callback's parameters, how a callback ended and why it was
//! refused, the failure reasons used as metric labels and in the audit log.

use std::time::Duration;

use sea_orm::DbErr;
use url::Url;
use uuid::Uuid;

use crate::auth::sessions::StateProblem;

/// Failure reasons past the state check, as the `reason` label of `keyward_login_failures_total` and in the
/// audit log (the refusals before it name theirs in [`LoginRefused::reason`]).
pub(super) mod reason {
    pub const PROVIDER_ERROR: &str = "provider_error";
    pub const CODE_REFUSED: &str = "code_refused";
    pub const INVALID_ID_TOKEN: &str = "invalid_id_token";
    pub const INACTIVE: &str = "inactive";
    pub const PROVIDER_UNAVAILABLE: &str = "provider_unavailable";
}

/// A login sent to the provider.
pub struct Started {
    /// The provider's authorization URL, where the browser goes next.
    pub provider_url: String,
    /// Binds the pending login to this browser: the value of the login cookie.
    pub binding: String,
    /// How long the login cookie must live.
    pub binding_max_age: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// `return_to` is not a place Keyward sends browsers; the text says why.
    #[error("{0}")]
    ReturnTo(&'static str),
    #[error("{0}")]
    Unavailable(String),
    #[error(transparent)]
    Db(#[from] DbErr),
}

/// The authorization response, as the provider sent it back.
#[derive(Debug, Default)]
pub struct Callback {
    pub state: Option<String>,
    pub code: Option<String>,
    pub error: Option<String>,
    pub error_description: Option<String>,
    pub iss: Option<String>,
}

/// How a callback ended.
pub enum Completed {
    /// Logged in: set the session cookie, go to `return_to`.
    SignedIn {
        session_cookie: String,
        return_to: String,
    },
    /// The login failed after its state checked out: back to the SPA, with `error` and `error_description`.
    SentBack { location: String },
    /// The callback cannot be tied to a login, so there is nowhere safe to send the browser.
    Refused(LoginRefused),
    /// Login is not configured, or the provider did not answer; the text is for the caller.
    ProviderUnavailable(String),
}

/// Why a callback was refused outright.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LoginRefused {
    #[error("the callback carries no state")]
    MissingState,
    #[error("unknown or already used login state; start the login again")]
    UnknownState,
    #[error("this login was started in another browser; start the login again")]
    OtherBrowser,
    #[error("the login took too long and expired; start the login again")]
    Expired,
    #[error("the authorization response comes from another issuer")]
    IssuerMismatch,
    #[error("the callback carries neither code nor error")]
    MissingCode,
}

impl LoginRefused {
    pub(super) fn reason(self) -> &'static str {
        match self {
            Self::MissingState => "missing_state",
            Self::UnknownState => "unknown_state",
            Self::OtherBrowser => "browser_mismatch",
            Self::Expired => "expired",
            Self::IssuerMismatch => "issuer_mismatch",
            Self::MissingCode => "missing_code",
        }
    }
}

impl From<StateProblem> for LoginRefused {
    fn from(problem: StateProblem) -> Self {
        match problem {
            StateProblem::Unknown => Self::UnknownState,
            StateProblem::OtherBrowser => Self::OtherBrowser,
            StateProblem::Expired => Self::Expired,
        }
    }
}

/// Why a login whose state checked out did not end in a session.
pub(super) enum Stop {
    /// Back to `return_to` with `code` and `detail`.
    Back {
        reason: &'static str,
        code: String,
        detail: String,
        user_id: Option<Uuid>,
    },
    /// The provider did not answer: `detail` for the audit log, `message` for the caller.
    Unavailable { detail: String, message: String },
}

impl Stop {
    pub(super) fn back(reason: &'static str, detail: impl Into<String>) -> Self {
        Self::Back {
            reason,
            code: "login_failed".into(),
            detail: detail.into(),
            user_id: None,
        }
    }

    pub(super) fn inactive(user_id: Uuid) -> Self {
        Self::Back {
            reason: reason::INACTIVE,
            code: "account_inactive".into(),
            detail: "this account is deactivated".into(),
            user_id: Some(user_id),
        }
    }
}

/// The provider refused the login (`error=…`): its words go into a URL and the audit log, a bounded amount.
pub(super) fn provider_error(code: &str, description: Option<&str>) -> Stop {
    let detail: String = description
        .unwrap_or("the identity provider did not complete the login")
        .chars()
        .take(256)
        .collect();
    let code: String = code
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
        .take(64)
        .collect();
    Stop::Back {
        reason: reason::PROVIDER_ERROR,
        code,
        detail,
        user_id: None,
    }
}

/// `return_to` with the error appended, so the SPA can tell the user what happened.
pub(super) fn with_error(return_to: &str, code: &str, description: &str) -> String {
    match Url::parse(return_to) {
        Ok(mut url) => {
            url.query_pairs_mut()
                .append_pair("error", code)
                .append_pair("error_description", description);
            url.to_string()
        }
        Err(_) => return_to.to_owned(),
    }
}
