// Prints an rpcauth line for anya.conf (Bitcoin Core's rpcauth format plus a role) and the password to give the
// client. Usage: node dist/tools/rpcauth.js <user> <readonly|user|admin> [password]
// Without a password argument a random one is made, so it never has to stand in shell history.

import { randomBytes } from 'node:crypto';
import { makeRpcAuth } from '../src/rpc/auth.js';
import { ROLES, type Role } from '../src/core/methods.js';

const [user, role, given] = process.argv.slice(2);
if (!user || !role || !(ROLES as readonly string[]).includes(role) || !/^[^:$\s]+$/.test(user)) {
  process.stderr.write('usage: rpcauth <user> <readonly|user|admin> [password]\n');
  process.exit(2);
}
const password = given ?? randomBytes(24).toString('base64url');
process.stdout.write(`String to be appended to anya.conf:\nrpcauth=${makeRpcAuth(user, password, role as Role)}\nYour password:\n${password}\n`);
