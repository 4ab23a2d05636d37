// How a failed call is shown: a 403 names the permission it needed (Keyward's `detail` does), field errors
// go next to their fields (see Field), anything else shows the problem's title and detail.
import { ProblemError, type FieldError } from "@keyward/client";

interface ProblemMessageProps {
  error: unknown;
  /** Fields whose errors a `<Field>` on the page shows; the others are listed here. */
  shownFields?: string[];
}

export function ProblemMessage({ error, shownFields = [] }: ProblemMessageProps) {
  if (!error) return null;
  if (!(error instanceof ProblemError)) {
    return (
      <p className="problem" role="alert" data-testid="problem">
        {error instanceof Error ? error.message : String(error)}
      </p>
    );
  }
  const { status, title, detail, errors = [] } = error.problem;
  const elsewhere = errors.filter((e) => shownFields.some((f) => belongsTo(e, f)));
  const here = errors.filter((e) => !elsewhere.includes(e));
  const text =
    status === 403
      ? `Not allowed: ${detail || "your roles do not permit this"}.`
      : elsewhere.length > 0 && here.length === 0
        ? `${title}: see the marked fields.`
        : `${title}${detail ? `: ${detail}` : ""}`;
  return (
    <div className="problem" role="alert" data-testid="problem">
      <p>{text}</p>
      {here.length > 0 && (
        <ul>
          {here.map((e) => (
            <li key={`${e.field}-${e.message}`}>
              <code>{e.field}</code>: {e.message}
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}

/** The field errors of a failed call, for `<Field errors=…>`. */
export function fieldErrors(error: unknown): FieldError[] {
  return error instanceof ProblemError ? (error.problem.errors ?? []) : [];
}

/** Whether a field error is about `field` or something inside it (`roles[2]`, `body.name`). */
export function belongsTo(error: FieldError, field: string): boolean {
  return error.field === field || error.field.startsWith(`${field}.`) || error.field.startsWith(`${field}[`);
}
