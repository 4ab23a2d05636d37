//! Sessions as resources: the caller's own (`/auth/sessions`), a page of a user's sessions (served by the users
//! API, which owns `/api/v1/users/{id}/sessions`), and the provider's back-channel logout (`/auth/backchannel-logout`).

use chrono::{DateTime, Utc};
use entity::sessions as session_rows;
use poem::{Request, web::Data};
use poem_openapi::{
    ApiResponse, Object, OpenApi,
    param::{Path, Query},
    payload::{Form, Json},
    types::Example,
};
use serde::Deserialize;
use uuid::Uuid;

use crate::{
    audit::{self, Event},
    auth::{Via, backchannel::LogoutRefused, sessions},
    error::ApiError,
    http::{
        ApiTags,
        admin_types::{example_time, list_type},
        authn::Authenticated,
        client_ip::origin_of,
        pagination,
    },
    state::AppState,
};

/// Where the provider posts logout tokens: no CSRF header, no CORS, not in the `/auth` login budget.
pub const BACKCHANNEL_LOGOUT_PATH: &str = "/auth/backchannel-logout";

pub struct SessionsApi;

/// One session: a browser signed in through the provider.
#[derive(Object, Debug)]
#[oai(example)]
pub struct Session {
    /// The session's id (not its cookie, which never leaves the browser and the server).
    pub id: Uuid,
    /// When the user logged in.
    pub created_at: DateTime<Utc>,
    /// When it was last used (updated at most once a minute).
    pub last_seen_at: DateTime<Utc>,
    /// When it ends unless used before then; never later than its maximum lifetime allows.
    pub expires_at: DateTime<Utc>,
    /// The browser's `User-Agent` at login, if it sent one.
    #[oai(nullable)]
    pub user_agent: Option<String>,
    /// The client address it was opened from.
    #[oai(nullable)]
    pub ip: Option<String>,
    /// Whether the request was made with this session (its cookie, or an API token minted from it).
    pub current: bool,
}

impl Example for Session {
    fn example() -> Self {
        Self {
            id: Uuid::nil(),
            created_at: example_time(),
            last_seen_at: example_time(),
            expires_at: example_time(),
            user_agent: Some("Mozilla/5.0 (X11; Linux x86_64) Firefox/133.0".into()),
            ip: Some("203.0.113.7".into()),
            current: true,
        }
    }
}

list_type!(
    SessionList,
    Session,
    "A page of sessions, most recently used first."
);

/// A back-channel logout request (OpenID Connect Back-Channel Logout 1.0 §2.5).
#[derive(Object, Deserialize)]
pub struct LogoutTokenForm {
    /// The provider's logout token (a signed JWT).
    #[oai(validator(max_length = 16384))]
    pub logout_token: String,
}

#[derive(ApiResponse)]
pub enum BackchannelLogout {
    /// The logout was processed (also when Keyward knew no session of it).
    #[oai(status = 200)]
    Processed(
        /// `no-store` (§2.8).
        #[oai(header = "Cache-Control")]
        String,
    ),
}

#[derive(ApiResponse)]
pub enum SessionEnded {
    /// The session has ended, and the API tokens minted from it with it.
    #[oai(status = 204)]
    NoContent,
}

pub(crate) fn current_session(auth: &Authenticated) -> Option<Uuid> {
    match &auth.0.via {
        Via::Session(s) => Some(s.public_id),
        Via::ApiToken(claims) => claims.sid.as_deref().and_then(|s| s.parse().ok()),
        Via::ProviderToken => None,
    }
}

pub(crate) async fn page_of(
    app: &AppState,
    user_id: Uuid,
    current: Option<Uuid>,
    (page, per_page): (Option<u64>, Option<u64>),
) -> Result<SessionList, ApiError> {
    let (page, per_page) = pagination::page(page, per_page);
    let all = sessions::list_for_user(&app.db, user_id).await?;
    let total = all.len() as u64;
    let skip = usize::try_from((page - 1) * per_page).unwrap_or(usize::MAX);
    let items = all
        .into_iter()
        .skip(skip)
        .take(usize::try_from(per_page).unwrap_or(usize::MAX))
        .map(|s: session_rows::Model| Session {
            current: Some(s.public_id) == current,
            id: s.public_id,
            created_at: s.created_at,
            last_seen_at: s.last_seen_at,
            expires_at: s.expires_at,
            user_agent: s.user_agent,
            ip: s.ip,
        })
        .collect();
    Ok(SessionList {
        items,
        total,
        page,
        per_page,
    })
}

#[OpenApi]
impl SessionsApi {
    /// The caller's live sessions, most recently used first; `current` marks the one this request uses.
    #[oai(
        path = "/auth/sessions",
        method = "get",
        operation_id = "listMySessions",
        tag = "ApiTags::Auth"
    )]
    async fn list_mine(
        &self,
        app: Data<&AppState>,
        auth: Authenticated,
        #[oai(validator(minimum(value = "1"), maximum(value = "1000000")))] page: Query<
            Option<u64>,
        >,
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))] per_page: Query<
            Option<u64>,
        >,
    ) -> Result<Json<SessionList>, ApiError> {
        let current = current_session(&auth);
        let user_id = auth.0.user.id;
        Ok(Json(
            page_of(&app, user_id, current, (page.0, per_page.0)).await?,
        ))
    }

    /// Ends one of the caller's own sessions (the current one included) and the API tokens minted from it:
    /// refused at once here, within about 2 s on other instances. 404 for a session that is not the caller's.
    #[oai(
        path = "/auth/sessions/:id",
        method = "delete",
        operation_id = "endMySession",
        tag = "ApiTags::Auth"
    )]
    async fn end_mine(
        &self,
        app: Data<&AppState>,
        req: &Request,
        auth: Authenticated,
        id: Path<Uuid>,
    ) -> Result<SessionEnded, ApiError> {
        let user_id = auth.0.user.id;
        if !sessions::end_by_public_id(&app.db, user_id, id.0).await? {
            return Err(ApiError::not_found(format!(
                "you have no session with id {}",
                id.0
            )));
        }
        app.auth.sessions_ended(&app.db).await?;
        audit::record(
            &app.db,
            &origin_of(req),
            Event::success("session.ended", Some(user_id)).target(id.0.to_string()),
        )
        .await;
        Ok(SessionEnded::NoContent)
    }

    /// OpenID Connect Back-Channel Logout 1.0: the provider posts a logout token here when a user signs out
    /// there; Keyward ends the sessions of that provider session (`sid`), or every session of the user
    /// (`sub` alone), and the API tokens minted from them. Called by the provider, not by browsers: no
    /// `X-CSRF`, no CORS. Every answer carries `Cache-Control: no-store`; an invalid or replayed token answers
    /// 400 `logout-token-invalid`.
    #[oai(
        path = "/auth/backchannel-logout",
        method = "post",
        operation_id = "backchannelLogout",
        tag = "ApiTags::Auth"
    )]
    async fn backchannel_logout(
        &self,
        app: Data<&AppState>,
        req: &Request,
        form: Form<LogoutTokenForm>,
    ) -> Result<BackchannelLogout, ApiError> {
        app.auth
            .backchannel_logout(&app.db, &origin_of(req), &form.0.logout_token)
            .await
            .map_err(|e| match e {
                LogoutRefused::Invalid(why) => ApiError::logout_token_invalid(why),
                // §2.8: the logout failed; the provider may tell its administrator.
                LogoutRefused::ProviderUnavailable(why) => ApiError::logout_token_invalid(why),
                LogoutRefused::Db(e) => e.into(),
            })?;
        Ok(BackchannelLogout::Processed("no-store".into()))
    }
}
