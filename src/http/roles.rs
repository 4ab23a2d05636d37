//! `/api/v1/roles` and `/api/v1/permissions`: what admins manage.

use poem::{Request, web::Data};
use poem_openapi::{
    ApiResponse, Object, OpenApi,
    param::{Path, Query},
    payload::Json,
    types::MaybeUndefined,
};
use uuid::Uuid;
use validator::Validate;

use crate::{
    audit::{self, Event},
    error::ApiError,
    http::{
        ApiTags,
        admin_types::{Permission, PermissionList, Role, RoleList},
        authn::Authenticated,
        body::JsonBody,
        client_ip::origin_of,
        pagination,
    },
    rbac::store::{self, NewRole, RolePatch},
    state::AppState,
};

pub struct RolesApi;

/// A new role.
#[derive(Object, Validate, Debug)]
#[oai(deny_unknown_fields)]
pub struct CreateRole {
    /// Unique; lowercase letters, digits, `_` and `-`.
    #[oai(validator(pattern = "^[a-z][a-z0-9_-]{1,63}$"))]
    pub name: String,
    /// What the role is for; empty when absent or null.
    #[oai(nullable, validator(max_length = 500))]
    pub description: Option<String>,
    /// Grant the role to every user at first login; false when absent or null.
    #[oai(nullable)]
    pub is_default: Option<bool>,
    /// Members of this provider group (or Keycloak realm role) hold the role; none when absent or null.
    #[oai(nullable, validator(min_length = 1, max_length = 255))]
    pub idp_group: Option<String>,
    /// Permission names (`resource:action`) the role starts with; none when absent or null.
    #[oai(
        nullable,
        validator(pattern = "^[a-z][a-z0-9_-]{0,62}:[a-z][a-z0-9_-]{0,62}$")
    )]
    pub permissions: Option<Vec<String>>,
}

/// Changes to a role: absent fields stay as they are.
#[derive(Object, Validate, Debug)]
#[oai(deny_unknown_fields)]
pub struct UpdateRole {
    /// The new name; built-in roles cannot be renamed. Null changes nothing.
    #[oai(nullable, validator(pattern = "^[a-z][a-z0-9_-]{1,63}$"))]
    pub name: Option<String>,
    /// The new description. Null changes nothing.
    #[oai(nullable, validator(max_length = 500))]
    pub description: Option<String>,
    /// Whether every user gets the role at first login. Null changes nothing.
    #[oai(nullable)]
    pub is_default: Option<bool>,
    /// A provider group name, or null to remove the mapping.
    #[oai(nullable, validator(min_length = 1, max_length = 255))]
    pub idp_group: MaybeUndefined<String>,
}

/// A role's permissions, all of them.
#[derive(Object, Validate, Debug)]
#[oai(deny_unknown_fields)]
pub struct SetPermissions {
    /// The complete new set of permission names (`resource:action`).
    #[oai(validator(
        max_items = 1000,
        pattern = "^[a-z][a-z0-9_-]{0,62}:[a-z][a-z0-9_-]{0,62}$"
    ))]
    pub permissions: Vec<String>,
}

/// A new application permission.
#[derive(Object, Validate, Debug)]
#[oai(deny_unknown_fields)]
pub struct CreatePermission {
    /// `resource:action`, e.g. `invoices:approve`.
    #[oai(validator(pattern = "^[a-z][a-z0-9_-]{0,62}:[a-z][a-z0-9_-]{0,62}$"))]
    pub name: String,
    /// What the permission allows; empty when absent or null.
    #[oai(nullable, validator(max_length = 500))]
    pub description: Option<String>,
}

#[derive(ApiResponse)]
pub enum RoleCreated {
    /// The role, created; `Location` is its URL.
    #[oai(status = 201)]
    Created(
        Json<Role>,
        /// The new role's URL.
        #[oai(header = "Location")]
        String,
    ),
}

#[derive(ApiResponse)]
pub enum PermissionCreated {
    /// The permission, created (and held by `admin`); `Location` is its URL.
    #[oai(status = 201)]
    Created(
        Json<Permission>,
        /// The new permission's URL.
        #[oai(header = "Location")]
        String,
    ),
}

#[derive(ApiResponse)]
pub enum Deleted {
    /// Deleted.
    #[oai(status = 204)]
    NoContent,
}

async fn changed(
    app: &AppState,
    req: &Request,
    actor: Uuid,
    kind: &'static str,
    target: &str,
) -> Result<(), ApiError> {
    app.auth.access.changed(&app.db).await?;
    audit::record(
        &app.db,
        &origin_of(req),
        Event::success(kind, Some(actor)).target(target),
    )
    .await;
    Ok(())
}

#[OpenApi(prefix_path = "/api/v1", tag = "ApiTags::Roles")]
impl RolesApi {
    /// Lists roles with their permissions. Needs `roles:read`.
    #[oai(path = "/roles", method = "get", operation_id = "listRoles")]
    async fn list_roles(
        &self,
        app: Data<&AppState>,
        auth: Authenticated,
        #[oai(validator(minimum(value = "1"), maximum(value = "1000000")))] page: Query<
            Option<u64>,
        >,
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))] per_page: Query<
            Option<u64>,
        >,
    ) -> Result<Json<RoleList>, ApiError> {
        auth.require("roles:read")?;
        let (page, per_page) = pagination::page(page.0, per_page.0);
        let (items, total) = store::list_roles(&app.db, page, per_page).await?;
        Ok(Json(RoleList {
            items: items.into_iter().map(Role::from).collect(),
            total,
            page,
            per_page,
        }))
    }

    /// Creates a role. Needs `roles:write`, and every permission it starts with.
    #[oai(path = "/roles", method = "post", operation_id = "createRole")]
    async fn create_role(
        &self,
        app: Data<&AppState>,
        req: &Request,
        auth: Authenticated,
        body: JsonBody<CreateRole>,
    ) -> Result<RoleCreated, ApiError> {
        let actor = auth.require("roles:write")?;
        let body = body.0;
        let permissions = body.permissions.unwrap_or_default();
        let view = store::create_role(
            &app.db,
            &actor.access,
            NewRole {
                name: body.name,
                description: body.description.unwrap_or_default(),
                is_default: body.is_default.unwrap_or(false),
                idp_group: body.idp_group,
                permissions,
            },
        )
        .await?;
        changed(&app, req, actor.user.id, "role.created", &view.role.name).await?;
        let location = format!("/api/v1/roles/{}", view.role.id);
        Ok(RoleCreated::Created(Json(view.into()), location))
    }

    /// One role. Needs `roles:read`.
    #[oai(path = "/roles/:id", method = "get", operation_id = "getRole")]
    async fn get_role(
        &self,
        app: Data<&AppState>,
        auth: Authenticated,
        id: Path<Uuid>,
    ) -> Result<Json<Role>, ApiError> {
        auth.require("roles:read")?;
        Ok(Json(store::find_role(&app.db, id.0).await?.into()))
    }

    /// Changes a role's name, description, default flag or provider-group mapping. Needs `roles:write`;
    /// making a role default or mapping it to a group also needs every permission it holds.
    #[oai(path = "/roles/:id", method = "patch", operation_id = "updateRole")]
    async fn update_role(
        &self,
        app: Data<&AppState>,
        req: &Request,
        auth: Authenticated,
        id: Path<Uuid>,
        body: JsonBody<UpdateRole>,
    ) -> Result<Json<Role>, ApiError> {
        let actor = auth.require("roles:write")?;
        let body = body.0;
        let idp_group = match body.idp_group {
            MaybeUndefined::Undefined => None,
            MaybeUndefined::Null => Some(None),
            MaybeUndefined::Value(g) => Some(Some(g)),
        };
        let view = store::update_role(
            &app.db,
            &actor.access,
            id.0,
            RolePatch {
                name: body.name,
                description: body.description,
                is_default: body.is_default,
                idp_group,
            },
        )
        .await?;
        changed(&app, req, actor.user.id, "role.updated", &view.role.name).await?;
        Ok(Json(view.into()))
    }

    /// Deletes a role and every grant of it. Built-in roles cannot be deleted (409). Needs `roles:write`.
    #[oai(path = "/roles/:id", method = "delete", operation_id = "deleteRole")]
    async fn delete_role(
        &self,
        app: Data<&AppState>,
        req: &Request,
        auth: Authenticated,
        id: Path<Uuid>,
    ) -> Result<Deleted, ApiError> {
        let actor = auth.require("roles:write")?;
        let role = store::delete_role(&app.db, id.0).await?;
        changed(&app, req, actor.user.id, "role.deleted", &role.name).await?;
        Ok(Deleted::NoContent)
    }

    /// Replaces the role's permissions. Needs `roles:write`, and every permission being added.
    #[oai(
        path = "/roles/:id/permissions",
        method = "put",
        operation_id = "setRolePermissions"
    )]
    async fn set_role_permissions(
        &self,
        app: Data<&AppState>,
        req: &Request,
        auth: Authenticated,
        id: Path<Uuid>,
        body: JsonBody<SetPermissions>,
    ) -> Result<Json<Role>, ApiError> {
        let actor = auth.require("roles:write")?;
        let view =
            store::set_role_permissions(&app.db, &actor.access, id.0, &body.0.permissions).await?;
        changed(
            &app,
            req,
            actor.user.id,
            "role.permissions_set",
            &view.role.name,
        )
        .await?;
        Ok(Json(view.into()))
    }

    /// Lists permissions. Needs `roles:read`.
    #[oai(
        path = "/permissions",
        method = "get",
        operation_id = "listPermissions"
    )]
    async fn list_permissions(
        &self,
        app: Data<&AppState>,
        auth: Authenticated,
        #[oai(validator(minimum(value = "1"), maximum(value = "1000000")))] page: Query<
            Option<u64>,
        >,
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))] per_page: Query<
            Option<u64>,
        >,
    ) -> Result<Json<PermissionList>, ApiError> {
        auth.require("roles:read")?;
        let (page, per_page) = pagination::page(page.0, per_page.0);
        let (items, total) = store::list_permissions(&app.db, page, per_page).await?;
        Ok(Json(PermissionList {
            items: items.into_iter().map(Permission::from).collect(),
            total,
            page,
            per_page,
        }))
    }

    /// Creates an application permission such as `invoices:approve`. Needs `roles:write`.
    #[oai(
        path = "/permissions",
        method = "post",
        operation_id = "createPermission"
    )]
    async fn create_permission(
        &self,
        app: Data<&AppState>,
        req: &Request,
        auth: Authenticated,
        body: JsonBody<CreatePermission>,
    ) -> Result<PermissionCreated, ApiError> {
        let actor = auth.require("roles:write")?;
        let body = body.0;
        let perm = store::create_permission(
            &app.db,
            &body.name,
            body.description.as_deref().unwrap_or_default(),
            false,
        )
        .await?;
        // `admin` now holds it too.
        changed(&app, req, actor.user.id, "permission.created", &perm.name).await?;
        let location = format!("/api/v1/permissions/{}", perm.id);
        Ok(PermissionCreated::Created(Json(perm.into()), location))
    }

    /// Deletes a permission (and takes it from every role). Built-in permissions cannot be deleted (409).
    /// Needs `roles:write`.
    #[oai(
        path = "/permissions/:id",
        method = "delete",
        operation_id = "deletePermission"
    )]
    async fn delete_permission(
        &self,
        app: Data<&AppState>,
        req: &Request,
        auth: Authenticated,
        id: Path<Uuid>,
    ) -> Result<Deleted, ApiError> {
        let actor = auth.require("roles:write")?;
        let perm = store::delete_permission(&app.db, id.0).await?;
        changed(&app, req, actor.user.id, "permission.deleted", &perm.name).await?;
        Ok(Deleted::NoContent)
    }
}
