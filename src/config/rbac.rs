//! RBAC settings: the roles and permissions file applied at start-up and the users granted `admin` at login.

use std::path::PathBuf;

use super::{ConfigError, vars::Vars};

/// The RBAC settings `Config` keeps as fields of its own.
pub(super) struct RbacSettings {
    pub(super) rbac_seed: Option<PathBuf>,
    pub(super) bootstrap_admins: Vec<String>,
}

pub(super) fn read<F: Fn(&str) -> Option<String>>(
    vars: &Vars<'_, F>,
) -> Result<RbacSettings, ConfigError> {
    let rbac_seed = vars.get("KEYWARD_RBAC_SEED").map(PathBuf::from);
    let bootstrap_admins = vars.list("KEYWARD_BOOTSTRAP_ADMINS", |raw| Ok(raw.to_owned()))?;
    Ok(RbacSettings {
        rbac_seed,
        bootstrap_admins,
    })
}
