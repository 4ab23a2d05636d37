//! `/api/v1/users` (listing, status, sessions, role grants) and `/api/v1/audit-events`.

use chrono::{DateTime, Utc};
use entity::users as user_rows;
use poem::{Request, web::Data};
use poem_openapi::{
    ApiResponse, Object, OpenApi,
    param::{Path, Query},
    payload::Json,
};
use sea_orm::EntityTrait;
use uuid::Uuid;
use validator::Validate;

use crate::{
    audit::{self, Event},
    error::ApiError,
    http::{
        ApiTags,
        admin_types::{AuditEvent, AuditEventList, User, UserList},
        authn::Authenticated,
        body::JsonBody,
        client_ip::origin_of,
        pagination,
        sessions::{SessionList, current_session, page_of},
    },
    rbac::{ADMIN_ROLE, login_grants::is_bootstrap_admin, store},
    state::AppState,
    users::{self, UserFilter},
};

pub struct UsersApi;

/// A user's new status.
#[derive(Object, Validate, Debug)]
#[oai(deny_unknown_fields)]
pub struct UpdateUser {
    /// false deactivates the user (their sessions end, their tokens stop working); true reactivates them.
    pub active: bool,
}

/// A user's manually granted roles, all of them.
#[derive(Object, Validate, Debug)]
#[oai(deny_unknown_fields)]
pub struct SetRoles {
    /// The complete new set of manually granted role names. Roles mapped from provider groups are kept.
    #[oai(validator(max_items = 200, pattern = "^[a-z][a-z0-9_-]{1,63}$"))]
    pub roles: Vec<String>,
}

#[derive(ApiResponse)]
pub enum SessionsEnded {
    /// Every session of the user has ended.
    #[oai(status = 204)]
    NoContent,
}

pub(super) async fn find_user(app: &AppState, id: Uuid) -> Result<user_rows::Model, ApiError> {
    user_rows::Entity::find_by_id(id)
        .one(&app.db)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no user with id {id}")))
}

/// `KEYWARD_BOOTSTRAP_ADMINS` belong to the operator, and the API cannot undo them: the grant of `admin` comes
/// back at the next login anyway, and refusing to deactivate them or end their sessions means no API client,
/// however careless, locks the operator's own admin out.
fn refuse_for_bootstrap_admin(
    app: &AppState,
    user: &user_rows::Model,
    change: &str,
) -> Result<(), ApiError> {
    if is_bootstrap_admin(&app.auth.bootstrap_admins, user) {
        return Err(ApiError::conflict(format!(
            "{} is a bootstrap admin (KEYWARD_BOOTSTRAP_ADMINS), whom the API does not {change}: \
             take them out of that setting first",
            users::label(user)
        )));
    }
    Ok(())
}

async fn view(app: &AppState, user: &user_rows::Model) -> Result<User, ApiError> {
    Ok(User::new(user, store::grants_of(&app.db, user.id).await?))
}

#[OpenApi(prefix_path = "/api/v1", tag = "ApiTags::Users")]
impl UsersApi {
    /// Lists users, oldest first, filtered by email (substring, case-insensitive), role name or status.
    /// Needs `users:read`.
    #[oai(path = "/users", method = "get", operation_id = "listUsers")]
    #[allow(clippy::too_many_arguments)]
    async fn list_users(
        &self,
        app: Data<&AppState>,
        auth: Authenticated,
        /// Only users whose email contains this, case-insensitive.
        #[oai(validator(max_length = 320))]
        email: Query<Option<String>>,
        /// Only users holding the role of this name (none when there is no such role).
        role: Query<Option<String>>,
        /// Only active (true) or inactive (false) users.
        active: Query<Option<bool>>,
        #[oai(validator(minimum(value = "1"), maximum(value = "1000000")))] page: Query<
            Option<u64>,
        >,
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))] per_page: Query<
            Option<u64>,
        >,
    ) -> Result<Json<UserList>, ApiError> {
        auth.require("users:read")?;
        let (page, per_page) = pagination::page(page.0, per_page.0);
        let role_id = match role.0.as_deref() {
            None => None,
            Some(name) => match store::find_role_by_name(&app.db, name).await? {
                Some(r) => Some(r.id),
                None => {
                    return Ok(Json(UserList {
                        items: Vec::new(),
                        total: 0,
                        page,
                        per_page,
                    }));
                }
            },
        };
        let filter = UserFilter {
            email: email.0,
            role_id,
            active: active.0,
        };
        let (rows, total) = users::list(&app.db, &filter, page, per_page).await?;
        let ids: Vec<Uuid> = rows.iter().map(|u| u.id).collect();
        let mut grants = store::grants_of_users(&app.db, &ids).await?;
        let items = rows
            .iter()
            .map(|u| User::new(u, grants.remove(&u.id).unwrap_or_default()))
            .collect();
        Ok(Json(UserList {
            items,
            total,
            page,
            per_page,
        }))
    }

    /// One user. Needs `users:read`.
    #[oai(path = "/users/:id", method = "get", operation_id = "getUser")]
    async fn get_user(
        &self,
        app: Data<&AppState>,
        auth: Authenticated,
        id: Path<Uuid>,
    ) -> Result<Json<User>, ApiError> {
        auth.require("users:read")?;
        let user = find_user(&app, id.0).await?;
        Ok(Json(view(&app, &user).await?))
    }

    /// Deactivates or reactivates a user. Deactivation ends their sessions; it needs every permission of the
    /// user's roles, and `admin` to deactivate an admin (403 otherwise); the last active admin and the bootstrap
    /// admins (`KEYWARD_BOOTSTRAP_ADMINS`) cannot be deactivated (409). Needs `users:write`.
    #[oai(path = "/users/:id", method = "patch", operation_id = "updateUser")]
    async fn update_user(
        &self,
        app: Data<&AppState>,
        req: &Request,
        auth: Authenticated,
        id: Path<Uuid>,
        body: JsonBody<UpdateUser>,
    ) -> Result<Json<User>, ApiError> {
        let actor = auth.require("users:write")?;
        let user = find_user(&app, id.0).await?;
        let active = body.0.active;
        if !active {
            store::check_may_take_all(&app.db, &actor.access, user.id).await?;
            refuse_for_bootstrap_admin(&app, &user, "deactivate")?;
        }
        let target = users::label(&user);
        let user = users::change_status(&app.db, user, active).await?;
        app.auth.access.changed(&app.db).await?;
        let kind = if active {
            "user.activated"
        } else {
            "user.deactivated"
        };
        audit::record(
            &app.db,
            &origin_of(req),
            Event::success(kind, Some(actor.user.id)).target(target),
        )
        .await;
        Ok(Json(view(&app, &user).await?))
    }

    // Here, not in `SessionsApi`: two services declaring one path would leave one of them out of the spec.
    /// A user's live sessions, most recently used first. Needs `users:read`.
    #[oai(
        path = "/users/:id/sessions",
        method = "get",
        operation_id = "listUserSessions"
    )]
    async fn list_for_user(
        &self,
        app: Data<&AppState>,
        auth: Authenticated,
        id: Path<Uuid>,
        #[oai(validator(minimum(value = "1"), maximum(value = "1000000")))] page: Query<
            Option<u64>,
        >,
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))] per_page: Query<
            Option<u64>,
        >,
    ) -> Result<Json<SessionList>, ApiError> {
        auth.require("users:read")?;
        let user = find_user(&app, id.0).await?;
        let current = current_session(&auth).filter(|_| auth.0.user.id == user.id);
        Ok(Json(
            page_of(&app, user.id, current, (page.0, per_page.0)).await?,
        ))
    }

    /// Ends every session of the user ("log out everywhere") and revokes the Keyward API tokens issued to them
    /// so far (refused with 401 from then on; on other instances within about 2 s). Needs every permission of
    /// the user's roles, and `admin` for an admin (403 otherwise). Refused for bootstrap admins
    /// (`KEYWARD_BOOTSTRAP_ADMINS`, 409). Needs `users:write`.
    #[oai(
        path = "/users/:id/sessions",
        method = "delete",
        operation_id = "endUserSessions"
    )]
    async fn end_sessions(
        &self,
        app: Data<&AppState>,
        req: &Request,
        auth: Authenticated,
        id: Path<Uuid>,
    ) -> Result<SessionsEnded, ApiError> {
        let actor = auth.require("users:write")?;
        let user = find_user(&app, id.0).await?;
        store::check_may_take_all(&app.db, &actor.access, user.id).await?;
        refuse_for_bootstrap_admin(&app, &user, "log out")?;
        let ended = users::end_sessions(&app.db, user.id).await?;
        // The revocation time travels with the cached user, so every instance must re-read it.
        app.auth.access.changed(&app.db).await?;
        audit::record(
            &app.db,
            &origin_of(req),
            Event::success("user.sessions_ended", Some(actor.user.id))
                .target(users::label(&user))
                .detail(format!("{ended} sessions ended by an admin")),
        )
        .await;
        Ok(SessionsEnded::NoContent)
    }

    /// Replaces the user's manually granted roles. Granting or removing a role whose permissions you do not all
    /// hold is refused (403), and so is granting or removing `admin` by a non-admin; taking `admin` from the
    /// last admin or from a bootstrap admin (`KEYWARD_BOOTSTRAP_ADMINS`) is refused (409). Needs `users:write`.
    #[oai(
        path = "/users/:id/roles",
        method = "put",
        operation_id = "setUserRoles"
    )]
    async fn set_roles(
        &self,
        app: Data<&AppState>,
        req: &Request,
        auth: Authenticated,
        id: Path<Uuid>,
        body: JsonBody<SetRoles>,
    ) -> Result<Json<User>, ApiError> {
        let actor = auth.require("users:write")?;
        let user = find_user(&app, id.0).await?;
        if !body.0.roles.iter().any(|r| r == ADMIN_ROLE) {
            refuse_for_bootstrap_admin(&app, &user, "take `admin` from")?;
        }
        store::set_manual_roles(
            &app.db,
            Some(actor.user.id),
            &actor.access,
            user.id,
            &body.0.roles,
        )
        .await?;
        app.auth.access.changed(&app.db).await?;
        audit::record(
            &app.db,
            &origin_of(req),
            Event::success("user.roles_set", Some(actor.user.id))
                .target(users::label(&user))
                .detail(body.0.roles.join(",")),
        )
        .await;
        Ok(Json(view(&app, &user).await?))
    }

    /// The audit log, newest first, filtered by acting user, event type and time (`from` inclusive, `to`
    /// exclusive, RFC 3339). Needs `audit:read`.
    #[oai(
        path = "/audit-events",
        method = "get",
        operation_id = "listAuditEvents"
    )]
    #[allow(clippy::too_many_arguments)]
    async fn audit_events(
        &self,
        app: Data<&AppState>,
        auth: Authenticated,
        /// Only events of this acting user.
        user_id: Query<Option<Uuid>>,
        /// Only events of this type (`login`, `role.created`, ...).
        #[oai(name = "type", validator(max_length = 64))]
        kind: Query<Option<String>>,
        /// Only events at or after this time (RFC 3339).
        from: Query<Option<DateTime<Utc>>>,
        /// Only events before this time (RFC 3339).
        to: Query<Option<DateTime<Utc>>>,
        #[oai(validator(minimum(value = "1"), maximum(value = "1000000")))] page: Query<
            Option<u64>,
        >,
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))] per_page: Query<
            Option<u64>,
        >,
    ) -> Result<Json<AuditEventList>, ApiError> {
        auth.require("audit:read")?;
        let (page, per_page) = pagination::page(page.0, per_page.0);
        let filter = audit::Filter {
            user_id: user_id.0,
            kind: kind.0,
            from: from.0,
            to: to.0,
        };
        let (rows, total) = audit::list(&app.db, &filter, page, per_page).await?;
        Ok(Json(AuditEventList {
            items: rows.into_iter().map(AuditEvent::from).collect(),
            total,
            page,
            per_page,
        }))
    }
}
