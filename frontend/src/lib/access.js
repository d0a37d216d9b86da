// What the signed-in token may change. /api/health reports it as
// access: {name, role, read_only, reason}; a viewer's (or a machine's push
// token's) dashboard disables starting, cancelling and deleting runs and
// says why, instead of letting those fail with 403.

// readOnlyReason is the reason the dashboard may not change runs, or ''
// when it may (or while health is not known yet: the server still checks).
export function readOnlyReason(health) {
  const a = health?.access;
  if (!a?.read_only) return '';
  return a.reason || `Read-only: the ${a.role || 'view'} token may not change runs.`;
}

// The context key App.svelte provides the health getter under.
export const HEALTH = 'health';
