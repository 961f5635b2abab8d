import test from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import * as sdk from '../src/index.js';

const root = new URL('../', import.meta.url);

test('no runtime dependencies: package.json lists none and the sources import only each other', () => {
  const pkg = JSON.parse(readFileSync(new URL('package.json', root), 'utf8'));
  assert.equal(pkg.name, '@playhead/player');
  assert.equal(pkg.dependencies, undefined);
  assert.equal(pkg.devDependencies, undefined);
  for (const name of readdirSync(new URL('src/', root)).filter((n) => n.endsWith('.js'))) {
    const text = readFileSync(new URL(`src/${name}`, root), 'utf8');
    const imports = [...text.matchAll(/^import[^'"]*['"]([^'"]+)['"]/gm)].map((m) => m[1]);
    assert.ok(imports.every((spec) => spec.startsWith('./')), `${name} imports ${imports}`);
  }
});

test('what index.js exports is what index.d.ts declares', () => {
  const types = readFileSync(new URL('src/index.d.ts', root), 'utf8');
  for (const name of Object.keys(sdk)) {
    assert.match(types, new RegExp(`export declare (function|class|const) ${name}\\b`), name);
  }
});
