import { ApiError, api } from './api.ts';
import type { Context } from './context.ts';
import { h, replace } from './dom.ts';
import { credentialForms, exact } from './format.ts';

/**
 * Modal dialogs (the native <dialog>: focus stays inside, Escape closes). A dialog is removed from the page
 * when it closes, so a password it showed is gone from the DOM, not merely hidden.
 */

function modal(labelledBy: string, opener: HTMLElement | null, onClosed: () => void): HTMLDialogElement {
  const dialog = h('dialog', { 'aria-labelledby': labelledBy });
  dialog.addEventListener('close', () => {
    dialog.remove();
    opener?.focus();
    onClosed();
  });
  document.body.append(dialog);
  return dialog;
}

const GRACE: Array<[number, string]> = [
  [0, 'None: the old password stops working now'],
  [3600, '1 hour'],
  [86_400, '24 hours'],
  [604_800, '7 days'],
];

interface Refreshed {
  username: string;
  password: string;
  rotated_at: string;
  previous_valid_until: string | null;
}

/** Asks for the grace, refreshes, then shows the new password once in each form a firewall may take. */
export function refreshDialog(
  context: Context,
  integration: { id: string; name: string },
  onClosed: () => void,
) {
  const opener = document.activeElement as HTMLElement | null;
  const dialog = modal('refresh-title', opener, onClosed);
  const grace = h(
    'select',
    { id: 'grace' },
    ...GRACE.map(([seconds, text]) =>
      h('option', { value: seconds, ...(seconds === 86_400 ? { selected: true } : {}) }, text),
    ),
  );
  const error = h('p', { class: 'error', role: 'alert' });
  const form = h(
    'form',
    {},
    h('h2', { id: 'refresh-title' }, `Refresh the credentials of ${integration.name}`),
    h(
      'p',
      {},
      'A new password is made and shown once. Put it into the device; until then the device keeps using the old one, which works only during the grace period.',
    ),
    h('div', { class: 'field' }, h('label', { for: 'grace' }, 'Old password keeps working for'), grace),
    error,
    h(
      'div',
      { class: 'buttons' },
      h('button', { type: 'submit', class: 'primary' }, 'Refresh credentials'),
      h('button', { type: 'button', onclick: () => dialog.close() }, 'Cancel'),
    ),
  );
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    try {
      const made = await api<Refreshed>(
        'POST',
        `/v1/integrations/${encodeURIComponent(integration.id)}/credentials/refresh`,
        {
          grace_seconds: Number(grace.value),
        },
      );
      showCredentials(context, dialog, integration, made);
    } catch (failure) {
      error.textContent = failure instanceof ApiError ? failure.detail : String(failure);
    }
  });
  replace(dialog, form);
  dialog.showModal();
  grace.focus();
}

function showCredentials(
  context: Context,
  dialog: HTMLDialogElement,
  integration: { id: string; name: string },
  made: Refreshed,
) {
  const contentUrl = `${location.origin}/v1/integrations/${encodeURIComponent(integration.id)}/content`;
  const forms = credentialForms(contentUrl, made.username, made.password);
  const close = h(
    'button',
    { type: 'button', class: 'primary', onclick: () => dialog.close() },
    'I have copied it: close',
  );
  replace(
    dialog,
    h('h2', { id: 'refresh-title' }, `New credentials of ${integration.name}`),
    h(
      'p',
      { class: 'warning' },
      'Shown this once: copy what your device needs now. After closing, only a new refresh can show a password again.',
    ),
    h(
      'p',
      {},
      made.previous_valid_until
        ? `The old password keeps working until ${exact(made.previous_valid_until)}.`
        : 'The old password no longer works.',
    ),
    h(
      'dl',
      { class: 'secrets' },
      ...forms.flatMap((form, index) => [
        h('dt', { id: `secret-${index}` }, form.label),
        h(
          'dd',
          {},
          h('code', { class: 'secret' }, form.value),
          h(
            'button',
            {
              type: 'button',
              'aria-label': `Copy ${form.label}`,
              onclick: () => void copy(context, form.value, form.label),
            },
            'Copy',
          ),
        ),
      ]),
    ),
    h('div', { class: 'buttons' }, close),
  );
  close.focus();
  context.announce('New credentials made. They are shown once.');
}

async function copy(context: Context, value: string, label: string) {
  try {
    await navigator.clipboard.writeText(value);
    context.announce(`Copied: ${label}.`);
  } catch {
    context.announce('This browser refused the clipboard: select the text and copy it by hand.');
  }
}

/** Deletion asks once more, naming what goes and what stays. */
export function deleteDialog(context: Context, integration: { id: string; name: string }) {
  const opener = document.activeElement as HTMLElement | null;
  const dialog = modal('delete-title', opener, () => {});
  const error = h('p', { class: 'error', role: 'alert' });
  const cancel = h('button', { type: 'button', onclick: () => dialog.close() }, 'Cancel');
  const form = h(
    'form',
    {},
    h('h2', { id: 'delete-title' }, `Delete ${integration.name}?`),
    h(
      'p',
      {},
      'Its credentials stop working at once and its open issues are resolved. Its history and audit trail stay. This cannot be undone.',
    ),
    error,
    h(
      'div',
      { class: 'buttons' },
      h('button', { type: 'submit', class: 'danger' }, `Delete ${integration.name}`),
      cancel,
    ),
  );
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    try {
      await api('DELETE', `/v1/integrations/${encodeURIComponent(integration.id)}`);
      dialog.close();
      context.navigate('/integrations');
      context.announce(`Deleted ${integration.name}.`);
    } catch (failure) {
      error.textContent = failure instanceof ApiError ? failure.detail : String(failure);
    }
  });
  replace(dialog, form);
  dialog.showModal();
  cancel.focus();
}
