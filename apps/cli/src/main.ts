#!/usr/bin/env node
/**
 * `lse`: the Layer Synthesis Engine command line. Composition root for the embedded mode: the
 * filesystem store and the in-process bus run the same pipeline stages the services run.
 */
import { Command, CommanderError, Option } from 'commander';
import type { LseError } from '@lse/core';
import type { Log } from '@lse/engine';
import type { loadConfig } from './config';
import type { Ctx, GlobalOpts } from './context';
import { EXIT, nodeExit } from './exit';

export const VERSION = '0.1.0';

/** Loads a module when a command first needs it (CommonJS require, typed by the module). */
// eslint-disable-next-line @typescript-eslint/no-require-imports
const load = <T>(id: string): T => require(id) as T;
const collect = (v: string, prev: string[] = []) => [...prev, v];

export function buildProgram(): Command {
  const program = new Command('lse')
    .description(
      'LSE, the Layer Synthesis Engine: synthesize OCI images just in time from signed fragments.\nEnvironment variables: see docs/CONFIGURATION.md. Exit codes: 0 ok, 1 failed, 2 usage/invalid input, 3 resolution, 4 verification.',
    )
    .version(VERSION, '-V', 'print the version (also: lse --version)')
    .option('--store <dir>', 'embedded store directory (default: $LSE_HOME or ~/.local/share/lse)')
    .option('--server <url>', 'work against a gateway instead of the embedded store (default: $LSE_SERVER)')
    .option('--token <token>', 'bearer token for the gateway (default: $LSE_TOKEN)')
    .option('--json', 'machine-readable output on stdout')
    .option('-q, --quiet', 'no progress output on stderr')
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();

  let config: ReturnType<typeof loadConfig> | undefined;
  // Commands, the store and the logger are loaded when a command runs, not to print help or parse
  // flags: `lse --help` starts about as fast as node itself (bench/cli-start.js).
  const ctxOf = (cmd: Command): Ctx => {
    config ??= load<typeof import('./config')>('./config').loadConfig(process.env, Boolean(process.stderr.isTTY));
    return load<typeof import('./context')>('./context').makeCtx(config, cmd.optsWithGlobals<GlobalOpts>());
  };
  const logOf = (): Log => {
    config ??= load<typeof import('./config')>('./config').loadConfig(process.env, Boolean(process.stderr.isTTY));
    if (!config.logLevel) return load<typeof import('@lse/engine')>('@lse/engine').silentLog;
    const pino = load<typeof import('pino')>('pino');
    return pino({ level: config.logLevel, base: { svc: 'cli' } }, pino.destination(2)) as unknown as Log;
  };

  const keys = program.command('keys').description('Ed25519 signing keys (NAME.key secret, NAME.pub public)');
  keys
    .command('generate')
    .description('generate a key pair: NAME.key (mode 0600) and NAME.pub, never overwriting')
    .requiredOption('--name <name>', 'key name, e.g. acme-1')
    .option('--out <dir>', 'directory to write to', '.')
    .action((o, cmd) => load<typeof import('./commands/keys')>('./commands/keys').keysGenerate(ctxOf(cmd), o));

  const trust = program.command('trust').description('the trust store: which publisher keys may sign which fragments');
  trust
    .command('add')
    .argument('<file.pub>', 'public key file (NAME:base64)')
    .description('trust a public key, optionally only for some fragment names')
    .option(
      '--scope <pattern>',
      "fragment name pattern this key may sign, e.g. 'lib*' (repeatable; default '*')",
      collect,
    )
    .action((file, o, cmd) =>
      load<typeof import('./commands/trust')>('./commands/trust').trustAdd(ctxOf(cmd), file, o),
    );
  trust
    .command('revoke')
    .argument('<name>', 'key name')
    .description('revoke a key: its signatures no longer verify')
    .action((name, _o, cmd) =>
      load<typeof import('./commands/trust')>('./commands/trust').trustRevoke(ctxOf(cmd), name),
    );
  trust
    .command('list')
    .description('list trusted and revoked keys')
    .action((_o, cmd) => load<typeof import('./commands/trust')>('./commands/trust').trustList(ctxOf(cmd)));

  const fragment = program.command('fragment').description('pack, list and show signed fragments');
  fragment
    .command('pack')
    .argument('<path>', 'directory or tar(.gz) with the content, laid out as in the image')
    .description('normalize content into a deterministic tar, sign it, store it; prints the fragment id')
    .requiredOption('--name <name>', 'fragment name')
    .requiredOption('--version <version>', 'fragment version')
    .addOption(new Option('--scheme <scheme>', 'version scheme').choices(['semver', 'debian']).default('semver'))
    .option('--arch <arch>', "architecture this variant needs (amd64, arm64, ...; 'all' or none = any)")
    .option('--variant <level>', 'minimum amd64 level (v1..v4)')
    .option('--feature <name>', 'required CPU feature (repeatable)', collect)
    .option('--libc <libc>', 'glibc or musl')
    .option('--region <region>', 'region this variant is for, e.g. eu-west (none = any region)')
    .option(
      '--depends <spec>',
      "dependency: 'NAME' or 'NAME CONSTRAINT', alternatives joined by ' | ' (repeatable)",
      collect,
    )
    .option('--pre-depends <spec>', 'pre-dependency (installed first; repeatable)', collect)
    .option('--provides <name>', "virtual name provided: 'NAME' or 'NAME (= VERSION)' (repeatable)", collect)
    .option('--conflicts <spec>', 'conflicting fragment (repeatable)', collect)
    .option('--breaks <spec>', 'broken fragment (repeatable)', collect)
    .requiredOption('--key <file.key>', 'secret key to sign with')
    .option('--allow-setuid', 'keep setuid/setgid bits (refused otherwise)')
    .option('--owner <uid:gid>', 'numeric owner of every entry (default 0:0)')
    .action((path, o, cmd) =>
      load<typeof import('./commands/fragment')>('./commands/fragment').fragmentPack(ctxOf(cmd), path, o),
    );
  fragment
    .command('list')
    .description('list every fragment: name, version, variant, id')
    .action((_o, cmd) => load<typeof import('./commands/fragment')>('./commands/fragment').fragmentList(ctxOf(cmd)));
  fragment
    .command('show')
    .argument('<name[@version]>')
    .description('show descriptors of a fragment')
    .action((ref, _o, cmd) =>
      load<typeof import('./commands/fragment')>('./commands/fragment').fragmentShow(ctxOf(cmd), ref),
    );

  const base = program.command('base').description('immutable base images');
  base
    .command('import')
    .argument(
      '<oci_layout_dir[:ref] | rootfs.tar>',
      "an OCI image layout (e.g. from 'skopeo copy ... oci:DIR:TAG') or a rootfs tarball",
    )
    .description('import a base image; prints its digest')
    .requiredOption('--name <name>', 'base name')
    .option('--tag <tag>', 'tag to point at it', 'latest')
    .option('--arch <arch>', 'architecture of a rootfs tarball', 'amd64')
    .action((arg, o, cmd) => load<typeof import('./commands/base')>('./commands/base').baseImport(ctxOf(cmd), arg, o));
  base
    .command('list')
    .description('list base name:tag pointers')
    .action((_o, cmd) => load<typeof import('./commands/base')>('./commands/base').baseList(ctxOf(cmd)));
  base
    .command('build')
    .argument('<package...>', "Debian packages (NAME or NAME=VERSION) from the host's apt lists")
    .description(
      'build a base from Debian packages and their dependencies (imported as signed fragments); prints the base digest',
    )
    .requiredOption('--name <name>', 'base name')
    .option('--tag <tag>', 'tag to point at it', 'latest')
    .requiredOption('--key <file.key>', 'secret key to sign the imported packages with')
    .option('--essential', "also include every 'Essential: yes' package of the index")
    .option('--cache <dir>', 'where downloaded .debs are kept (default: STORE/apt-cache)')
    .option('--no-merged-usr', 'keep /bin, /lib... paths as shipped (default: move them under /usr, merged-/usr)')
    .option(
      '--keyring <file>',
      "OpenPGP keyring the apt lists' InRelease must be signed with (default: LSE_DEBIAN_KEYRING, else /usr/share/keyrings/debian-archive-keyring.gpg)",
    )
    .option('--allow-unsigned', 'do not check the apt lists against their InRelease; the fragments are marked unsigned')
    .option('--allow-older', 'accept a release dated before the newest already imported for its suite')
    .action((pkgs, o, cmd) =>
      load<typeof import('./commands/base-build')>('./commands/base-build').baseBuild(ctxOf(cmd), pkgs, o),
    );

  const imp = program.command('import').description('import Debian packages as signed fragments');
  imp
    .command('deb')
    .argument('<file.deb...>', 'Debian binary packages')
    .description('import .deb files; prints NAME VERSION FRAGMENT_ID per package')
    .requiredOption('--key <file.key>', 'secret key to sign with')
    .option('--no-merged-usr', 'keep /bin, /lib... paths as shipped (default: move them under /usr)')
    .action((files, o, cmd) =>
      load<typeof import('./commands/import')>('./commands/import').importDeb(ctxOf(cmd), files, o),
    );
  imp
    .command('apt')
    .argument('<package...>', 'package names (NAME or NAME=VERSION)')
    .description("resolve the packages' closure against the host's apt lists, apt-get download it, import it")
    .requiredOption('--key <file.key>', 'secret key to sign with')
    .option('--cache <dir>', 'where downloaded .debs are kept (default: STORE/apt-cache)')
    .option('--no-merged-usr', 'keep /bin, /lib... paths as shipped (default: move them under /usr)')
    .option(
      '--keyring <file>',
      "OpenPGP keyring the apt lists' InRelease must be signed with (default: LSE_DEBIAN_KEYRING, else /usr/share/keyrings/debian-archive-keyring.gpg)",
    )
    .option('--allow-unsigned', 'do not check the apt lists against their InRelease; the fragments are marked unsigned')
    .option('--allow-older', 'accept a release dated before the newest already imported for its suite')
    .action((pkgs, o, cmd) =>
      load<typeof import('./commands/import')>('./commands/import').importApt(ctxOf(cmd), pkgs, o),
    );
  imp
    .command('debian-index')
    .argument(
      '<packages_file...>',
      "Packages indexes, plain or compressed (apt's lists in /var/lib/apt/lists work as they are)",
    )
    .description(
      'import the metadata of every package of a Debian Packages index as signed fragments; each .deb is fetched (and checked against the index SHA256) when a synthesis first uses it. Re-running is a no-op',
    )
    .requiredOption('--key <file.key>', 'secret key to sign with')
    .option(
      '--mirror <url>',
      `Debian archive the .debs are fetched from (default: the archive apt fetched the list from, else ${'http://deb.debian.org/debian'}; LSE_DEBIAN_MIRROR overrides at fetch time)`,
    )
    .option('--arch <list>', "architectures to import, comma-separated, or 'any' (default: the host's and all)")
    .option(
      '--no-merged-usr',
      'keep /bin, /lib... paths as shipped when the .debs are unpacked (default: move them under /usr)',
    )
    .option(
      '--release <InRelease>',
      "the archive's signed InRelease listing the Packages files (or a Release with Release.gpg beside it); repeatable",
      collect,
    )
    .option(
      '--keyring <file>',
      'OpenPGP keyring the release must be signed with (default: LSE_DEBIAN_KEYRING, else /usr/share/keyrings/debian-archive-keyring.gpg); with --server the gateway checks with its own',
    )
    .option(
      '--allow-unsigned',
      'import without --release: nothing checks the metadata; the fragments are marked unsigned',
    )
    .option(
      '--allow-older',
      'accept a release dated before the newest already imported for its suite (a deliberate downgrade)',
    )
    .action((files, o, cmd) =>
      load<typeof import('./commands/import-index')>('./commands/import-index').importDebianIndex(ctxOf(cmd), files, o),
    );

  program
    .command('resolve')
    .argument('<manifest>', 'dependency manifest (YAML or JSON)')
    .description('print the lock (NAME VERSION FRAGMENT_ID per line, install order) without fetching or assembling')
    .option('--platform <os/arch[/variant]>', 'runtime platform, e.g. linux/amd64/v3 (overrides the manifest)')
    .option('--region <region>', "the runtime's region, e.g. eu-west (overrides the manifest's platform.region)")
    .option(
      '--region-fallback <list>',
      'regions whose variants are acceptable next, in order, comma-separated (overrides platform.regionFallback)',
    )
    .action((file, o, cmd) =>
      load<typeof import('./commands/synth')>('./commands/synth').resolveCmd(ctxOf(cmd), file, o),
    );
  program
    .command('synth')
    .argument('<manifest>', 'dependency manifest (YAML or JSON)')
    .description('resolve, fetch, verify and assemble an OCI image; prints the image manifest digest')
    .requiredOption('--out <dir>', 'OCI image layout directory to write (must not exist, or be empty)')
    .option('--platform <os/arch[/variant]>', 'runtime platform, e.g. linux/amd64/v3 (overrides the manifest)')
    .option('--region <region>', "the runtime's region, e.g. eu-west (overrides the manifest's platform.region)")
    .option(
      '--region-fallback <list>',
      'regions whose variants are acceptable next, in order, comma-separated (overrides platform.regionFallback)',
    )
    .option('--rootfs <dir>', 'also materialize the root filesystem here')
    .option('--force', 'replace existing output directories')
    .action((file, o, cmd) =>
      load<typeof import('./commands/synth')>('./commands/synth').synth(ctxOf(cmd), file, o, logOf()),
    );
  program
    .command('verify')
    .description(
      "re-verify every fragment and base in the store (exit 4 if anything fails); fragments from a signed Debian index are checked along Debian's chain of trust",
    )
    .option(
      '--chain',
      'show the chain of trust (archive key, InRelease, Packages, paragraph, descriptor) of each fragment from a signed Debian index',
    )
    .option(
      '--keyring <file>',
      'OpenPGP keyring for Debian releases (default: LSE_DEBIAN_KEYRING, else /usr/share/keyrings/debian-archive-keyring.gpg)',
    )
    .action((o, cmd) => load<typeof import('./commands/verify')>('./commands/verify').verifyStore(ctxOf(cmd), o));

  const node = program
    .command('node')
    .description(
      'run images on this node through lse-node and containerd, from the node fragment cache (docs/NODE.md)',
    );
  node
    .command('pull')
    .argument('<image>', 'pkgs/<package>[/<package>...][:tag], synth/<synthesis id>, or NAME@sha256:<digest>')
    .description(
      'put an LSE image into containerd from the node fragment cache (missing fragments fetched and verified); prints the containerd image name',
    )
    .action((image, _o, cmd) => load<typeof import('./commands/node')>('./commands/node').nodePull(ctxOf(cmd), image));
  node
    .command('run')
    .argument('<manifest>', 'dependency manifest (YAML or JSON)')
    .argument('[cmd...]', "command to run (after --); default: the image's")
    .description(
      "synthesize the manifest, put the image on the node, run the command in a container (runc) and wait; exits with the container's exit code and leaves no container, snapshot or lease behind",
    )
    .option('--platform <os/arch[/variant]>', 'runtime platform (overrides the manifest)')
    .option('--keep', 'keep the image in containerd afterwards (the synthesis lease stays held by the agent)')
    .action((file, cmdArgs, o, cmd) =>
      load<typeof import('./commands/node')>('./commands/node').nodeRun(ctxOf(cmd), file, cmdArgs, o),
    );
  return program;
}

export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  const json = argv.includes('--json');
  if (versionRequested(argv)) {
    process.stdout.write(VERSION + '\n');
    return EXIT.ok;
  }
  try {
    await program.parseAsync(argv, { from: 'user' });
    return nodeExit.code ?? EXIT.ok;
  } catch (e) {
    if (e instanceof CommanderError) {
      if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.code === 'commander.help')
        return EXIT.ok;
      // commander printed the message on stderr; scripts asking for --json get it on stdout too
      if (json)
        process.stdout.write(
          JSON.stringify(
            { error: { code: 'USAGE', message: e.message.replace(/^error: /, '') }, exitCode: EXIT.usage },
            null,
            2,
          ) + '\n',
        );
      return EXIT.usage;
    }
    const { LseError } = load<typeof import('@lse/core')>('@lse/core');
    if (e instanceof LseError && e.details['reported']) return reportErrorQuiet(e);
    return load<typeof import('./output')>('./output').reportError(e, json);
  }
}

/** `--version` before any command word (a subcommand's own `--version VALUE` is not it). */
function versionRequested(argv: string[]): boolean {
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--version') return true;
    if (a === '--store' || a === '--server' || a === '--token') i++;
    else if (!a.startsWith('-')) return false;
  }
  return false;
}

function reportErrorQuiet(e: LseError): number {
  process.stderr.write(`lse: ${e.message}\n`);
  return load<typeof import('./output')>('./output').exitCodeFor(e);
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (e) => {
      process.stderr.write(String(e) + '\n');
      process.exitCode = 1;
    },
  );
}
