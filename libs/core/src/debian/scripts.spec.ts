import { analyzeMaintainerScripts, parseAlternativesCall } from './scripts';

const MAWK = `#!/bin/sh
set -e
if [ "$1" = "configure" ] || [ "$1" = "abort-upgrade" ]; then
        update-alternatives --install /usr/bin/awk awk /usr/bin/mawk 5 \\
            --slave /usr/share/man/man1/awk.1.gz awk.1.gz /usr/share/man/man1/mawk.1.gz \\
            --slave /usr/bin/nawk nawk /usr/bin/mawk
fi
`;

describe('maintainer script analysis', () => {
  it('parses update-alternatives --install with slaves across continuation lines', () => {
    const a = analyzeMaintainerScripts({ postinst: MAWK });
    expect(a.alternatives).toEqual([
      {
        link: '/usr/bin/awk',
        name: 'awk',
        path: '/usr/bin/mawk',
        priority: 5,
        slaves: [
          { link: '/usr/share/man/man1/awk.1.gz', name: 'awk.1.gz', path: '/usr/share/man/man1/mawk.1.gz' },
          { link: '/usr/bin/nawk', name: 'nawk', path: '/usr/bin/mawk' },
        ],
      },
    ]);
    expect(a.effects).toEqual([
      expect.objectContaining({ script: 'postinst', kind: 'alternatives', reproduced: true }),
    ]);
  });

  it('reports computed alternatives, users, services, bytecode and unknown commands as not reproduced', () => {
    const a = analyzeMaintainerScripts({
      postinst: `#!/bin/sh\ncase "$1" in\n  configure|abort-upgrade)\n    adduser --system foo\n    deb-systemd-helper enable foo.service\n    py3compile -p foo\n    update-alternatives --install /usr/bin/x x /usr/lib/$ARCH/x 10\n    mkdir -p /var/lib/foo; frobnicate --all\n  ;;\nesac\nmyfunc() { :; }\nmyfunc\n`,
      preinst: 'db_get foo/question\n',
    });
    expect(a.alternatives).toEqual([]);
    const kinds = a.effects.map((e) => `${e.script}:${e.kind}:${e.reproduced}`);
    expect(kinds).toEqual(
      expect.arrayContaining([
        'postinst:users:false',
        'postinst:services:false',
        'postinst:bytecode:false',
        'postinst:alternatives:false',
        'postinst:custom:false',
        'preinst:debconf:false',
      ]),
    );
    const custom = a.effects.find((e) => e.kind === 'custom')!.detail;
    expect(custom).toContain('frobnicate');
    expect(custom).toContain('mkdir');
    expect(custom).not.toContain('configure');
    expect(custom).not.toContain('myfunc');
  });

  it('treats an ldconfig trigger as covered and other interest triggers as not processed', () => {
    const a = analyzeMaintainerScripts({ triggers: 'activate-noawait ldconfig\ninterest-noawait /usr/share/icons\n' });
    expect(a.effects.map((e) => [e.kind, e.reproduced])).toEqual([
      ['ldconfig', true],
      ['triggers', false],
    ]);
  });

  it('refuses malformed install calls as dynamic', () => {
    expect(parseAlternativesCall(['--install', '/usr/bin/x', 'x'])).toBe('dynamic');
    expect(parseAlternativesCall(['--remove', 'x', '/usr/bin/y'])).toBeUndefined();
  });
});
