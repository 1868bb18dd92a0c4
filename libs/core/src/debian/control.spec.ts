import { formatParagraph, parseControl, parseControlFile } from './control';
import { parseProvidesField, parseRelationField, relationSpecs } from './relations';

const CONTROL = `Package: libfoo1
Version: 1:2.3-4
Architecture: amd64
Depends: libc6 (>= 2.36), perl:any | perl-base,libbar (<< 3~)
Provides: foo-abi-2 (= 2.3), libfoo
Description: a library
 with a long description
 .
 and a second paragraph
Conffiles:
 /etc/foo.conf 0123456789abcdef0123456789abcdef
`;

describe('control files', () => {
  it('parses fields, keeps multiline values, and formats back to the same text', () => {
    const p = parseControl(CONTROL);
    expect(p['Package']).toBe('libfoo1');
    expect(p['Description']).toBe('a library\n with a long description\n .\n and a second paragraph');
    expect(p['Conffiles']).toBe('\n /etc/foo.conf 0123456789abcdef0123456789abcdef');
    expect(formatParagraph(p)).toBe(CONTROL);
  });

  it('splits a Packages index into paragraphs, tolerating CRLF and extra blank lines', () => {
    const ps = parseControlFile('Package: a\r\nVersion: 1\r\n\r\n\n\nPackage: b\nVersion: 2\n');
    expect(ps.map((p) => p['Package'])).toEqual(['a', 'b']);
    expect(ps[0]!['Version']).toBe('1');
  });

  it('refuses a continuation line without a field and a line without a colon', () => {
    expect(() => parseControlFile(' orphan\n')).toThrow(/line 1 continues a field/);
    expect(() => parseControlFile('Package: a\nnonsense\n')).toThrow(/line 2/);
    expect(() => parseControl('Package: a\n\nPackage: b\n')).toThrow(/expected one paragraph, found 2/);
  });
});

describe('relationship fields', () => {
  it('parses alternatives, versions and :any qualifiers', () => {
    const rels = parseRelationField(parseControl(CONTROL)['Depends']);
    expect(rels).toEqual([
      [{ name: 'libc6', constraint: '>= 2.36' }],
      [{ name: 'perl', archQualifier: 'any' }, { name: 'perl-base' }],
      [{ name: 'libbar', constraint: '<< 3~' }],
    ]);
  });
  it('drops source-style architecture restrictions and build profiles', () => {
    expect(relationSpecs('foo [amd64] <!nocheck>, bar')).toEqual(['foo', 'bar']);
  });
  it('parses versioned provides and refuses other operators', () => {
    expect(parseProvidesField('foo-abi-2 (= 2.3), libfoo')).toEqual([
      { name: 'foo-abi-2', version: '2.3' },
      { name: 'libfoo' },
    ]);
    expect(() => parseProvidesField('foo (>= 1)')).toThrow(/may only use/);
  });
});
