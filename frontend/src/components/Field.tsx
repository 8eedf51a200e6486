// A labelled input with its error right under it (GraphQL extensions.field),
// and the check every form runs before it sends: required fields left empty
// are named at the field, not hinted at by a greyed-out button.
import type { ComponentChildren } from 'preact';
import { useState } from 'preact/hooks';

interface Props {
  id: string;
  label: ComponentChildren;
  error?: string;
  hint?: string;
  children: (a: { id: string; 'aria-invalid': boolean; 'aria-describedby'?: string }) => ComponentChildren;
}

export function Field({ id, label, error, hint, children }: Props) {
  const describedBy = [error ? id + '-err' : '', hint ? id + '-hint' : ''].filter(Boolean).join(' ') || undefined;
  return (
    <div class="field">
      <label for={id}>{label}</label>
      {children({ id, 'aria-invalid': !!error, 'aria-describedby': describedBy })}
      {hint && <span class="hint" id={id + '-hint'}>{hint}</span>}
      {error && <FieldError id={id + '-err'} field={id}>{error}</FieldError>}
    </div>
  );
}

/** An error under a control that is not a Field (a group of checkboxes, a
 *  table row); the control names it with aria-describedby={id}. */
export function FieldError({ id, field, children }: { id?: string; field?: string; children: ComponentChildren }) {
  return <span class="field-error" id={id} role="alert" data-field-error={field}>{children}</span>;
}

/**
 * The form's required fields: `checks` maps each field, in the order of the
 * form, to what to say while it is empty (false once filled). Nothing shows
 * until the first submit; from then on a message leaves as its field is filled.
 */
export function useRequired(checks: Record<string, string | false>) {
  const [tried, setTried] = useState(false);
  const left = Object.keys(checks).filter((f) => checks[f]);
  return {
    /** The message for a field left empty, once the owner has tried to send. */
    error: (field: string): string | undefined => (tried && checks[field]) || undefined,
    /** Call on submit: true when something is missing — the messages appear and
     *  the cursor goes to the first such field (its element id from idOf). */
    blocked: (idOf: (field: string) => string): boolean => {
      setTried(true);
      if (left.length === 0) return false;
      document.getElementById(idOf(left[0]))?.focus();
      return true;
    },
    /** After the form was sent and emptied: no messages until the next try. */
    reset: () => setTried(false),
  };
}
