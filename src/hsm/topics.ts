// The HSM room's event.

import { Type } from '@sinclair/typebox';
import { defineTopic } from '../core/events.js';
import { PolicySchema } from './declarations.js';

export const HSM_POLICY = defineTopic({
  name: 'hsm.policy',
  summary: 'A signing policy changed: applied (at once), pending (a loosening waiting for hsm.policydelay), effective (the wait is over) or cancelled.',
  data: Type.Object({
    subject: Type.String(),
    state: Type.String(),
    policy: Type.Union([PolicySchema, Type.Null()], { description: 'The policy this change is about (null: none).' }),
    effective_at: Type.Optional(Type.String()),
    loosens: Type.Optional(Type.Array(Type.String())),
    interim: Type.Optional(Type.Union([PolicySchema, Type.Null()], { description: 'The policy in force while a loosening waits.' })),
  }),
});
