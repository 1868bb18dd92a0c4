import { spawn } from 'node:child_process';
import { LseError } from '@lse/core';

export interface RunResult {
  stdout: Buffer;
  stderr: string;
  code: number;
}

/** Runs a program (no shell), collecting stdout as bytes; rejects only when it cannot start. */
export function run(
  cmd: string,
  args: string[],
  opts: { cwd?: string; input?: Buffer; onStderr?: (line: string) => void } = {},
): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {
      cwd: opts.cwd,
      stdio: [opts.input ? 'pipe' : 'ignore', 'pipe', 'pipe'],
      env: { ...process.env, LC_ALL: 'C' },
    });
    const out: Buffer[] = [];
    let err = '';
    child.stdout!.on('data', (b: Buffer) => out.push(b));
    child.stderr!.on('data', (b: Buffer) => {
      const s = b.toString('utf8');
      err += s;
      if (opts.onStderr) for (const l of s.split('\n')) if (l.trim()) opts.onStderr(l);
    });
    child.on('error', (e: NodeJS.ErrnoException) => {
      reject(
        e.code === 'ENOENT'
          ? new LseError(
              'USAGE',
              `${cmd} is not installed; it is needed to read Debian packages (apt-get install dpkg apt)`,
              { cmd },
            )
          : e,
      );
    });
    child.on('close', (code) => resolve({ stdout: Buffer.concat(out), stderr: err, code: code ?? 1 }));
    if (opts.input) child.stdin!.end(opts.input);
  });
}

/** Like run, but a non-zero exit is an error quoting the command's stderr. */
export async function runOk(
  cmd: string,
  args: string[],
  what: string,
  opts: Parameters<typeof run>[2] = {},
): Promise<Buffer> {
  const r = await run(cmd, args, opts);
  if (r.code !== 0) {
    throw new LseError(
      'INTERNAL',
      `${what}: ${cmd} ${args.slice(0, 4).join(' ')}${args.length > 4 ? ' …' : ''} exited with ${r.code}: ${r.stderr.trim().split('\n').slice(-3).join(' / ')}`,
      { cmd, args, code: r.code },
    );
  }
  return r.stdout;
}
