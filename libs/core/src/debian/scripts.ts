/**
 * What a package's maintainer scripts would do on installation, read from their text (never
 * run). Only `preinst` and `postinst` (and the `triggers` file) matter for a fresh install; the
 * removal scripts are kept but not analysed.
 *
 * The analysis is a keyword scan over the commands of each script: backslash continuations are
 * joined, comments dropped, each line cut at `;`, `&&`, `||`, `|` and shell keywords, and the first
 * word of each piece is looked up in a table of known effects. `update-alternatives --install LINK
 * NAME PATH PRIORITY [--slave LINK NAME PATH]...` with literal arguments is parsed so assembly can
 * create the links; `ldconfig` (a call or an ldconfig trigger) is covered by the dynamic loader's
 * default search path (Debian's multiarch directories are in it). Everything else that changes the
 * system is listed as not reproduced, per script, in words.
 */

export interface AlternativeLink {
  link: string;
  name: string;
  path: string;
}
export interface AlternativeInstall extends AlternativeLink {
  priority: number;
  slaves: AlternativeLink[];
}

export interface ScriptEffect {
  /** `postinst`, `preinst`, `triggers`. */
  script: string;
  /** Short key: `alternatives`, `ldconfig`, `users`, `services`, ... */
  kind: string;
  reproduced: boolean;
  detail: string;
}

export interface ScriptAnalysis {
  alternatives: AlternativeInstall[];
  effects: ScriptEffect[];
}

const SHELL_WORDS = new Set([
  'if',
  'then',
  'else',
  'elif',
  'fi',
  'case',
  'esac',
  'for',
  'while',
  'until',
  'do',
  'done',
  'in',
  'set',
  'test',
  '[',
  '[[',
  ']',
  ']]',
  'echo',
  'printf',
  'exit',
  'return',
  'local',
  'true',
  'false',
  ':',
  'export',
  'unset',
  'shift',
  'read',
  'which',
  'command',
  'type',
  '.',
  'source',
  'trap',
  'eval',
  'exec',
  'break',
  'continue',
  '{',
  '}',
  '(',
  ')',
  'readonly',
  'wait',
  'hash',
  'basename',
  'dirname',
  'grep',
  'sed',
  'awk',
  'cut',
  'tr',
  'head',
  'tail',
  'sort',
  'uniq',
  'wc',
  'cat',
  'dpkg',
  'dpkg-query',
  'id',
  'getent',
  'env',
  'stat',
  'readlink',
  'realpath',
  'uname',
  'sleep',
  'cmp',
  'diff',
  'find',
  'xargs',
  'ls',
  'pwd',
  'expr',
]);

/** Command word → effect (reproduced or not, and what it means). */
const KNOWN: Record<string, { kind: string; reproduced: boolean; detail: string }> = {
  ldconfig: {
    kind: 'ldconfig',
    reproduced: true,
    detail: 'ldconfig: libraries are found through the dynamic loader default paths (no /etc/ld.so.cache is generated)',
  },
  'dpkg-maintscript-helper': {
    kind: 'conffile-moves',
    reproduced: true,
    detail: 'dpkg-maintscript-helper: only acts on upgrades',
  },
  adduser: { kind: 'users', reproduced: false, detail: 'system users/groups are not created (adduser)' },
  addgroup: { kind: 'users', reproduced: false, detail: 'system groups are not created (addgroup)' },
  useradd: { kind: 'users', reproduced: false, detail: 'system users are not created (useradd)' },
  groupadd: { kind: 'users', reproduced: false, detail: 'system groups are not created (groupadd)' },
  'deb-systemd-helper': {
    kind: 'services',
    reproduced: false,
    detail: 'systemd units are not enabled (no init in containers)',
  },
  'deb-systemd-invoke': { kind: 'services', reproduced: false, detail: 'services are not started' },
  systemctl: { kind: 'services', reproduced: false, detail: 'services are not started or enabled' },
  'update-rc.d': { kind: 'services', reproduced: false, detail: 'init scripts are not enabled' },
  'invoke-rc.d': { kind: 'services', reproduced: false, detail: 'services are not started' },
  py3compile: {
    kind: 'bytecode',
    reproduced: false,
    detail: 'Python modules are not byte-compiled (Python compiles them on first import)',
  },
  pycompile: { kind: 'bytecode', reproduced: false, detail: 'Python modules are not byte-compiled' },
  'update-ca-certificates': {
    kind: 'certificates',
    reproduced: false,
    detail: '/etc/ssl/certs and ca-certificates.crt are not generated',
  },
  ucf: { kind: 'config', reproduced: false, detail: 'configuration files managed by ucf are not installed' },
  ucfr: { kind: 'config', reproduced: false, detail: 'ucf registrations are not recorded' },
  'dpkg-statoverride': { kind: 'permissions', reproduced: false, detail: 'ownership/mode overrides are not applied' },
  chown: { kind: 'permissions', reproduced: false, detail: 'ownership changes are not applied (files are root:root)' },
  chgrp: { kind: 'permissions', reproduced: false, detail: 'group changes are not applied' },
  chmod: { kind: 'permissions', reproduced: false, detail: 'mode changes are not applied' },
  setcap: { kind: 'permissions', reproduced: false, detail: 'file capabilities are not set' },
  'dpkg-divert': { kind: 'diversions', reproduced: false, detail: 'diversions are not recorded' },
  db_get: { kind: 'debconf', reproduced: false, detail: 'debconf questions are not asked (defaults apply)' },
  db_input: { kind: 'debconf', reproduced: false, detail: 'debconf questions are not asked (defaults apply)' },
  'install-info': { kind: 'caches', reproduced: false, detail: 'the info directory is not updated' },
  mandb: { kind: 'caches', reproduced: false, detail: 'the man page index is not rebuilt' },
  'update-mime-database': { kind: 'caches', reproduced: false, detail: 'the MIME database is not rebuilt' },
  'update-desktop-database': { kind: 'caches', reproduced: false, detail: 'the desktop database is not rebuilt' },
  'gtk-update-icon-cache': { kind: 'caches', reproduced: false, detail: 'icon caches are not rebuilt' },
  'fc-cache': { kind: 'caches', reproduced: false, detail: 'font caches are not rebuilt' },
  'glib-compile-schemas': { kind: 'caches', reproduced: false, detail: 'GSettings schemas are not compiled' },
  'update-initramfs': { kind: 'caches', reproduced: false, detail: 'no initramfs is built' },
  'update-passwd': {
    kind: 'users',
    reproduced: true,
    detail: '/etc/passwd and /etc/group are created from the base-passwd masters when absent',
  },
};

function joinContinuations(text: string): string[] {
  return text.replace(/\\\r?\n/g, ' ').split('\n');
}

function stripComment(line: string): string {
  const t = line.trimStart();
  if (t.startsWith('#')) return '';
  const i = line.search(/\s#/);
  return i >= 0 ? line.slice(0, i) : line;
}

function unquote(w: string): string {
  return w.replace(/^["']|["']$/g, '');
}

/** Parses `update-alternatives ... --install L N P PRIO [--slave L N P]...` arguments. */
export function parseAlternativesCall(args: string[]): AlternativeInstall | 'dynamic' | undefined {
  const i = args.indexOf('--install');
  if (i < 0) return undefined;
  const a = args.slice(i + 1).map(unquote);
  if (a.length < 4) return 'dynamic';
  const [link, name, path, prio] = a as [string, string, string, string];
  if ([link, name, path, prio].some((x) => x.includes('$') || x.includes('`')) || !/^-?\d+$/.test(prio))
    return 'dynamic';
  const slaves: AlternativeLink[] = [];
  for (let j = 4; j < a.length; j++) {
    if (a[j] === '--slave') {
      const [l, n, p] = [a[j + 1], a[j + 2], a[j + 3]];
      if (l === undefined || n === undefined || p === undefined || [l, n, p].some((x) => x.includes('$')))
        return 'dynamic';
      slaves.push({ link: l, name: n, path: p });
      j += 3;
    } else if (a[j]!.startsWith('--')) break;
    else break;
  }
  return { link, name, path, priority: Number(prio), slaves };
}

export function analyzeMaintainerScripts(scripts: Record<string, string>): ScriptAnalysis {
  const alternatives: AlternativeInstall[] = [];
  const effects: ScriptEffect[] = [];
  const add = (e: ScriptEffect) => {
    if (!effects.some((x) => x.script === e.script && x.detail === e.detail)) effects.push(e);
  };
  for (const script of ['preinst', 'postinst'] as const) {
    const text = scripts[script];
    if (text === undefined) continue;
    const other = new Set<string>();
    for (const raw of joinContinuations(text)) {
      // a case pattern (`configure|abort-upgrade)`) is not a command
      const line = stripComment(raw).replace(/^\s*\(?[^()\s"]*(?:\s*\|\s*[^()\s"]*)*\)\s*/, '');
      for (const piece of line.split(/;|&&|\|\||\||\bthen\b|\bdo\b|\belse\b|\$\(|`/)) {
        const words = piece
          .trim()
          .split(/\s+/)
          .filter((w) => w !== '' && !/^[A-Za-z_][A-Za-z0-9_]*=/.test(w));
        const cmd = words[0];
        if (cmd === undefined) continue;
        const base = cmd.replace(/^.*\//, '');
        if (base === 'update-alternatives') {
          const alt = parseAlternativesCall(words.slice(1));
          if (alt === 'dynamic')
            add({
              script,
              kind: 'alternatives',
              reproduced: false,
              detail: `update-alternatives with computed arguments is not reproduced: ${piece.trim().slice(0, 120)}`,
            });
          else if (alt) {
            alternatives.push(alt);
            add({
              script,
              kind: 'alternatives',
              reproduced: true,
              detail: `alternative ${alt.name}: ${alt.link} -> ${alt.path} (priority ${alt.priority})`,
            });
          }
          continue;
        }
        const known = KNOWN[base] ?? (base.startsWith('db_') ? KNOWN['db_get'] : undefined);
        if (known) add({ script, ...known });
        else if (/^[a-z][a-z0-9_.+-]*$/.test(base) && !SHELL_WORDS.has(base) && !/\(\)$/.test(cmd)) other.add(base);
      }
    }
    const functions = new Set([...text.matchAll(/^\s*([A-Za-z_][A-Za-z0-9_-]*)\s*\(\)/gm)].map((m) => m[1]!));
    const custom = [...other].filter((w) => !functions.has(w)).sort();
    if (custom.length)
      add({
        script,
        kind: 'custom',
        reproduced: false,
        detail: `other commands are not run: ${custom.slice(0, 12).join(', ')}${custom.length > 12 ? ', …' : ''}`,
      });
  }
  const triggers = scripts['triggers'];
  if (triggers !== undefined) {
    for (const line of triggers.split('\n')) {
      const [directive, name] = line.trim().split(/\s+/);
      if (!directive || directive.startsWith('#') || !name) continue;
      if (name === 'ldconfig') add({ script: 'triggers', ...KNOWN['ldconfig']! });
      else if (directive.startsWith('interest'))
        add({ script: 'triggers', kind: 'triggers', reproduced: false, detail: `trigger ${name} is not processed` });
    }
  }
  return { alternatives, effects };
}
