// Dates as the reader's locale writes them; Keyward sends RFC 3339.
export function formatTime(iso: string | null | undefined): string {
  return iso ? new Date(iso).toLocaleString() : "—";
}
