// A run's status in words, marked when it failed.
export function RunStatus({ status }: { status: string }) {
  const kind = status === "failed" ? "warn" : status === "running" ? "busy" : "ok";
  return <span className={`badge ${kind}`}>{status}</span>;
}
