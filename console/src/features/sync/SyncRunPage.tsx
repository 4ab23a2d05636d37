// One sync run, refreshed every second while it is running.
import { useQuery } from "@tanstack/react-query";
import { Link, useParams } from "react-router";

import { formatTime } from "../../components/format";
import { ProblemMessage } from "../../components/Problem";
import { runQuery } from "./api";
import { RunStatus } from "./RunStatus";

export function SyncRunPage() {
  const { id = "" } = useParams();
  const run = useQuery(runQuery(id));

  return (
    <>
      <p>
        <Link to="/sync">← Sync</Link>
      </p>
      <h1>Sync run</h1>
      <ProblemMessage error={run.error} />
      {run.data && (
        <dl data-testid="sync-run">
          <dt>Status</dt>
          <dd aria-live="polite">
            <RunStatus status={run.data.status} />
          </dd>
          {run.data.error && (
            <>
              <dt>Why it failed</dt>
              <dd>{run.data.error}</dd>
            </>
          )}
          <dt>Trigger</dt>
          <dd>{run.data.trigger}</dd>
          {run.data.scheduled_for && (
            <>
              <dt>Scheduled for</dt>
              <dd>{formatTime(run.data.scheduled_for)}</dd>
            </>
          )}
          <dt>Started</dt>
          <dd>{formatTime(run.data.started_at)}</dd>
          <dt>Finished</dt>
          <dd>{formatTime(run.data.finished_at)}</dd>
          <dt>Pages read</dt>
          <dd>{run.data.pages}</dd>
          <dt>Users seen</dt>
          <dd>{run.data.seen}</dd>
          <dt>Updated</dt>
          <dd>{run.data.updated}</dd>
          <dt>Created</dt>
          <dd>{run.data.created}</dd>
          <dt>Deactivated</dt>
          <dd>{run.data.deactivated}</dd>
          <dt>Run id</dt>
          <dd>
            <code>{run.data.id}</code>
          </dd>
        </dl>
      )}
    </>
  );
}
