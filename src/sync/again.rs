//! The second listing of a run whose first pages came in while the local users were still read: those pages
//! were kept as digests (`stash`), and the users whose digests said they changed or are new are listed again
//! for their metadata.

use tokio::sync::mpsc;
use uuid::Uuid;

use super::{
    Syncer,
    directory::AbortOnDrop,
    local::{LocalIndex, Pending},
    run::{Counts, Tally, list},
};

impl Syncer {
    /// Lists the directory again for the users whose digests, taken while the local users were read, said
    /// they changed or are new, and brings those in line. Stops once it found them all: they were listed
    /// early, so this seldom reads far. One that is gone by now waits for the next run; it was listed, so it
    /// is not deactivated.
    pub(super) async fn list_again(
        &self,
        run_id: Uuid,
        issuer: &str,
        local: &mut LocalIndex,
        mut pending: Pending,
        counts: &mut Counts,
        tally: &mut Tally,
    ) -> Result<(), String> {
        let directory = self.directory().map_err(|e| e.to_string())?;
        let name = directory.name();
        tracing::info!(run = %run_id, users = pending.len(), "listing again for users that changed");
        let (pages_tx, mut pages) = mpsc::channel(1);
        let _lister = AbortOnDrop::spawn(list(directory, pages_tx));
        while !pending.is_empty() {
            let Some(mut page) = self.next_page(&mut pages, counts, name).await? else {
                break;
            };
            local.keep_pending(&mut page, &mut pending);
            if !page.users.is_empty() {
                self.commit_page(run_id, issuer, local, page, counts, tally)
                    .await?;
            }
        }
        Ok(())
    }
}
