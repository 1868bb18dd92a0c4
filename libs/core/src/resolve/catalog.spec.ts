import { atomMatches, MemoryCatalog } from './catalog';
import { syntheticCatalog, syntheticFragment as f } from './synthetic';

describe('MemoryCatalog', () => {
  const postfix = f({ name: 'postfix', version: '3.7.0', provides: ['mta', { name: 'sendmail', version: '8.0.0' }] });
  const exim = f({ name: 'exim', version: '4.96.0', provides: ['mta'] });
  const cat = new MemoryCatalog([postfix, exim, postfix]);

  it('indexes by name and by provided name, once per fragment id', () => {
    expect(cat.byName('postfix')).toEqual([postfix]);
    expect(
      cat
        .providersOf('mta')
        .map((x) => x.descriptor.name)
        .sort(),
    ).toEqual(['exim', 'postfix']);
    expect(cat.byName('mta')).toEqual([]);
    expect(cat.names()).toEqual(['exim', 'postfix']);
  });

  it('matches atoms by name or provides, checking versioned provides only', () => {
    expect(atomMatches({ name: 'postfix', constraint: '>=3.0.0' }, postfix)).toBe(true);
    expect(atomMatches({ name: 'postfix', constraint: '>=4.0.0' }, postfix)).toBe(false);
    expect(atomMatches({ name: 'mta' }, exim)).toBe(true);
    expect(atomMatches({ name: 'mta', constraint: '>=1.0.0' }, exim)).toBe(false);
    expect(atomMatches({ name: 'sendmail', constraint: '^8.0.0' }, postfix)).toBe(true);
    expect(atomMatches({ name: 'sendmail', constraint: '^9.0.0' }, postfix)).toBe(false);
    expect(atomMatches({ name: 'postfix', archQualifier: 'any' }, postfix)).toBe(true);
  });
});

describe('syntheticCatalog', () => {
  it('is deterministic for a seed and builds names x versions fragments', () => {
    const a = syntheticCatalog({ names: 20, versions: 3, depth: 5, seed: 3 });
    const b = syntheticCatalog({ names: 20, versions: 3, depth: 5, seed: 3 });
    expect(a.fragments).toHaveLength(60);
    expect(a.fragments.map((x) => x.id)).toEqual(b.fragments.map((x) => x.id));
    expect(new Set(a.fragments.map((x) => x.id)).size).toBe(60);
    expect(a.top).toBe('pkg-00000');
  });
});
