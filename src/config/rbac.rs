//! RBAC settings: the roles and permissions file applied at start-up, the users granted `admin` at login, and
//! how long cached access may be served while the database is away.

use std::{path::PathBuf, time::Duration};

use super::{ConfigError, vars::Vars};

/// The RBAC settings `Config` keeps as fields of its own.
pub(super) struct RbacSettings {
    pub(super) rbac_seed: Option<PathBuf>,
    pub(super) bootstrap_admins: Vec<String>,
    pub(super) access_stale_max: Duration,
}

pub(super) fn read<F: Fn(&str) -> Option<String>>(
    vars: &Vars<'_, F>,
) -> Result<RbacSettings, ConfigError> {
    let rbac_seed = vars.get("KEYWARD_RBAC_SEED").map(PathBuf::from);
    let bootstrap_admins = vars.list("KEYWARD_BOOTSTRAP_ADMINS", |raw| Ok(raw.to_owned()))?;
    let access_stale_max = vars.duration("KEYWARD_ACCESS_STALE_MAX", "60s")?;
    Ok(RbacSettings {
        rbac_seed,
        bootstrap_admins,
        access_stale_max,
    })
}
