// A labelled input with its error right under it (GraphQL extensions.field).
import type { ComponentChildren } from 'preact';

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
      {error && <span class="field-error" id={id + '-err'} role="alert" data-field-error={id}>{error}</span>}
    </div>
  );
}
