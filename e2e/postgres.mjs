// A throwaway PostgreSQL for the end-to-end tests, as crates/endpoint-server/tests/
// common/postgres.rs makes one for the Rust tests: a new cluster in a temporary
// directory, on 127.0.0.1 at a free port, run as the `postgres` user when the tests
// run as root (PostgreSQL refuses root), stopped and removed by stop().
import { spawn, execFileSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** The newest installed PostgreSQL's bin directory (Debian's packages; setup installs them). */
function binDir() {
  const root = '/usr/lib/postgresql';
  const majors = existsSync(root) ? readdirSync(root).filter((d) => existsSync(join(root, d, 'bin/initdb'))) : [];
  if (majors.length === 0) throw new Error('PostgreSQL is not installed: run `cargo xtask setup`');
  majors.sort((a, b) => Number(a) - Number(b));
  return join(root, majors.at(-1), 'bin');
}

async function freePort() {
  const s = createServer();
  await new Promise((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address();
  await new Promise((r) => s.close(r));
  return port;
}

export async function startPostgres() {
  const bin = binDir();
  const dir = mkdtempSync(join(tmpdir(), 'endpoint-e2e-pg-'));
  const root = process.getuid() === 0;
  // As root: setpriv to the Debian package's `postgres` user.
  const as = (cmd, args) => (root
    ? ['setpriv', ['--reuid', 'postgres', '--regid', 'postgres', '--init-groups', cmd, ...args]]
    : [cmd, args]);
  if (root) {
    const uid = Number(execFileSync('id', ['-u', 'postgres']).toString());
    const gid = Number(execFileSync('id', ['-g', 'postgres']).toString());
    chownSync(dir, uid, gid);
  }
  const data = join(dir, 'data');
  execFileSync(...as(join(bin, 'initdb'), ['--auth=trust', '--username=endpoint', '--encoding=UTF8', '--no-sync', '-D', data]), { stdio: 'ignore' });
  const port = await freePort();
  const child = spawn(...as(join(bin, 'postgres'), ['-D', data, '-p', String(port), '-k', dir,
    '-c', 'listen_addresses=127.0.0.1', '-c', 'fsync=off']), { stdio: 'ignore' });
  const deadline = Date.now() + 30_000;
  for (;;) {
    const up = await new Promise((r) => {
      const c = connect(port, '127.0.0.1', () => { c.destroy(); r(true); });
      c.on('error', () => r(false));
    });
    if (up) break;
    if (Date.now() > deadline) throw new Error('PostgreSQL did not start within 30 s');
    await new Promise((r) => setTimeout(r, 100));
  }
  // Accepting TCP is not yet accepting logins: give it the moment it takes.
  await new Promise((r) => setTimeout(r, 500));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGINT'); // fast shutdown
      await exited;
    }
    rmSync(dir, { recursive: true, force: true });
  };
  return { url: `postgres://endpoint@127.0.0.1:${port}/postgres`, stop };
}
