// A table of sessions: where and when each was opened, last used and ends; the one this console runs on is
// marked. `onEnd` adds an "End" button per row (only for one's own sessions).
import { formatTime } from "../../components/format";
import { TableWrap } from "../../components/TableWrap";
import type { Session } from "./api";

interface SessionsTableProps {
  label: string;
  sessions: Session[];
  onEnd?: (session: Session) => void;
  ending?: boolean;
}

export function SessionsTable({ label, sessions, onEnd, ending }: SessionsTableProps) {
  if (sessions.length === 0) return <p>No live sessions.</p>;
  return (
    <TableWrap label={label}>
      <table data-testid="sessions-table">
        <caption className="visually-hidden">{label}</caption>
        <thead>
          <tr>
            <th scope="col">Browser</th>
            <th scope="col">Address</th>
            <th scope="col">Signed in</th>
            <th scope="col">Last used</th>
            <th scope="col">Ends</th>
            {onEnd && (
              <th scope="col">
                <span className="visually-hidden">Actions</span>
              </th>
            )}
          </tr>
        </thead>
        <tbody>
          {sessions.map((s) => (
            <tr key={s.id}>
              <td>
                {browserName(s.user_agent)} {s.current && <span className="badge">this session</span>}
              </td>
              <td>{s.ip ?? "—"}</td>
              <td>{formatTime(s.created_at)}</td>
              <td>{formatTime(s.last_seen_at)}</td>
              <td>{formatTime(s.expires_at)}</td>
              {onEnd && (
                <td>
                  <button type="button" className="danger" disabled={ending} onClick={() => onEnd(s)}>
                    {s.current ? "Sign out here" : "End"}
                  </button>
                </td>
              )}
            </tr>
          ))}
        </tbody>
      </table>
    </TableWrap>
  );
}

/** A short name for a User-Agent string: enough to tell one's laptop from one's phone. */
function browserName(userAgent: string | null | undefined): string {
  if (!userAgent) return "Unknown browser";
  const known: [RegExp, string][] = [
    [/Edg\//, "Edge"],
    [/Firefox\//, "Firefox"],
    [/Chrom(e|ium)\//, "Chromium"],
    [/Safari\//, "Safari"],
  ];
  const name = known.find(([pattern]) => pattern.test(userAgent))?.[1] ?? userAgent.slice(0, 40);
  const os = /Android|iPhone|iPad|Windows|Mac OS X|Linux/.exec(userAgent)?.[0];
  return os ? `${name} on ${os === "Mac OS X" ? "macOS" : os}` : name;
}
