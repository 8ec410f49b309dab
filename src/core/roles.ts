// The roles of RPC callers, least to most. Kept apart from the registry (which compiles schemas) so that the
// config checks anya-cli loads stay light.

export const ROLES = ['readonly', 'user', 'admin'] as const;
export type Role = (typeof ROLES)[number];
