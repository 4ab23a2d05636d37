// A labelled form control with the server's message for that field beneath it.
import { cloneElement, useId, type ReactElement } from "react";
import type { FieldError } from "@keyward/client";

import { belongsTo } from "./Problem";

interface FieldProps {
  label: string;
  /** The field's name in Keyward's problem `errors` (the request body's property). */
  name: string;
  errors?: FieldError[];
  hint?: string;
  children: ReactElement<{ id?: string; "aria-invalid"?: boolean; "aria-describedby"?: string }>;
}

export function Field({ label, name, errors = [], hint, children }: FieldProps) {
  const id = useId();
  const messages = errors.filter((e) => belongsTo(e, name));
  const describedBy = [hint && `${id}-hint`, messages.length > 0 && `${id}-error`].filter(Boolean).join(" ");
  return (
    <div className="field">
      <label htmlFor={id}>{label}</label>
      {cloneElement(children, {
        id,
        "aria-invalid": messages.length > 0 || undefined,
        "aria-describedby": describedBy || undefined,
      })}
      {hint && (
        <small id={`${id}-hint`} className="hint">
          {hint}
        </small>
      )}
      {messages.length > 0 && (
        <small id={`${id}-error`} className="field-error">
          {messages.map((m) => m.message).join("; ")}
        </small>
      )}
    </div>
  );
}
