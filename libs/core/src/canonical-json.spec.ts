import { canonicalJson } from './canonical-json';

describe('canonical JSON', () => {
  it('sorts keys at every depth, drops undefined and has no whitespace', () => {
    expect(canonicalJson({ b: 1, a: { d: [1, 'x'], c: undefined, b: true } })).toBe(
      '{"a":{"b":true,"d":[1,"x"]},"b":1}',
    );
  });
  it('refuses values JSON cannot represent exactly', () => {
    expect(() => canonicalJson({ a: NaN })).toThrow(/non-finite number at \$\.a/);
    expect(() => canonicalJson({ a: [1, { b: Infinity }] })).toThrow(/non-finite number at \$\.a\[1\]\.b$/);
    expect(() => canonicalJson({ z: [() => 1] })).toThrow(/cannot encode function at \$\.z\[0\]$/);
    expect(canonicalJson([undefined, { x: [] }, 'é"'])).toBe('[null,{"x":[]},"é\\""]');
  });
});
