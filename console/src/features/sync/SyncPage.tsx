// The user sync: when it runs next and against which provider, the runs with their counters, and "Run now"
// for those with sync:run (a run already going answers 409, shown as such).
import { useState } from "react";
import { useQuery } from "@tanstack/react-query";
import { Link, useNavigate } from "react-router";

import { useCan } from "../../app/permissions";
import { formatTime } from "../../components/format";
import { Pager } from "../../components/Pager";
import { TableWrap } from "../../components/TableWrap";
import { ProblemMessage } from "../../components/Problem";
import { runsQuery, scheduleQuery, useStartRun } from "./api";
import { RunStatus } from "./RunStatus";

export function SyncPage() {
  const can = useCan();
  const navigate = useNavigate();
  const [page, setPage] = useState(1);
  const schedule = useQuery(scheduleQuery);
  const runs = useQuery(runsQuery(page));
  const start = useStartRun();

  return (
    <>
      <h1>User sync</h1>
      <section aria-labelledby="sync-schedule">
        <h2 id="sync-schedule">Schedule</h2>
        <ProblemMessage error={schedule.error} />
        {schedule.data && (
          <dl data-testid="sync-schedule">
            <dt>Scheduled runs</dt>
            <dd>{schedule.data.enabled ? "on" : "off (manual runs still work)"}</dd>
            <dt>Cron expression</dt>
            <dd>
              <code>{schedule.data.cron}</code>
            </dd>
            <dt>Time zone</dt>
            <dd>{schedule.data.timezone}</dd>
            <dt>Next run</dt>
            <dd>{formatTime(schedule.data.next_run_at)}</dd>
            <dt>Provider</dt>
            <dd>{schedule.data.provider ?? "none that Keyward can list users from"}</dd>
            <dt>Provider events</dt>
            <dd>
              {schedule.data.events_interval_seconds
                ? `read every ${schedule.data.events_interval_seconds} s`
                : "not read (the schedule alone applies changes)"}
            </dd>
          </dl>
        )}
        {schedule.data?.events_warning && (
          <p className="problem" role="alert" data-testid="events-warning">
            Provider events are not read: {schedule.data.events_warning}
          </p>
        )}
        {can("sync:run") && (
          <p>
            <button
              type="button"
              className="primary"
              disabled={start.isPending}
              onClick={() => start.mutate(undefined, { onSuccess: (run) => navigate(`/sync/runs/${run.id}`) })}
            >
              Run now
            </button>
          </p>
        )}
        <ProblemMessage error={start.error} />
      </section>
      <section aria-labelledby="sync-runs">
        <h2 id="sync-runs">Runs</h2>
        <ProblemMessage error={runs.error} />
        {runs.data && (
          <>
            <TableWrap label="Sync runs, newest first">
              <table data-testid="sync-runs-table">
                <caption className="visually-hidden">Sync runs, newest first</caption>
                <thead>
                  <tr>
                    <th scope="col">Started</th>
                    <th scope="col">Trigger</th>
                    <th scope="col">Status</th>
                    <th scope="col">Seen</th>
                    <th scope="col">Updated</th>
                    <th scope="col">Created</th>
                    <th scope="col">Deactivated</th>
                  </tr>
                </thead>
                <tbody>
                  {runs.data.items.map((run) => (
                    <tr key={run.id}>
                      <td>
                        <Link to={`/sync/runs/${run.id}`}>{formatTime(run.started_at)}</Link>
                      </td>
                      <td>{run.trigger}</td>
                      <td>
                        <RunStatus status={run.status} />
                      </td>
                      <td>{run.seen}</td>
                      <td>{run.updated}</td>
                      <td>{run.created}</td>
                      <td>{run.deactivated}</td>
                    </tr>
                  ))}
                  {runs.data.items.length === 0 && (
                    <tr>
                      <td colSpan={7}>No run yet.</td>
                    </tr>
                  )}
                </tbody>
              </table>
            </TableWrap>
            <Pager page={page} perPage={runs.data.per_page} total={runs.data.total} onPage={setPage} />
          </>
        )}
      </section>
    </>
  );
}
