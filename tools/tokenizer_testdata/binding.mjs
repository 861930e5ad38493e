// What the scripts that run the Hugging Face `tokenizers` library through its Node binding @anush008/tokenizers
// share: generate_expected.mjs, generate_synthetic.mjs, generate_eval.mjs (here) and
// bench/tokenizer/tokenizers_bench.mjs. Loading the binding (with a message on how to install it), its versions,
// tokenizer.json(.gz) files loaded through a temporary file, the expected-file format of generate_expected.mjs and
// generate_synthetic.mjs, and their command lines.

import { createRequire } from 'node:module';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import zlib from 'node:zlib';

const PACKAGE = '@anush008/tokenizers';

export const sha256 = (buf) => createHash('sha256').update(buf).digest('hex');

// The repository root: `repo` when given, else two levels above this file.
export function repoRoot(repo) {
  return path.resolve(repo ?? path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..'));
}

// Parses argv: each name of `values` takes the next argument as its value (default null), each name of `flags` is
// a switch (default false); the result's keys are the names in camel case without the dashes ("--chunk-bytes" ->
// chunkBytes), and `rest` holds the other arguments. -h/--help prints "usage: " + usage and exits 0; an unknown
// option throws.
export function parseArgs(argv, usage, { values = [], flags = [] } = {}) {
  const key = (s) => s.replace(/^--/, '').replace(/-([a-z])/g, (_, c) => c.toUpperCase());
  const a = { rest: [] };
  for (const s of values) a[key(s)] = null;
  for (const s of flags) a[key(s)] = false;
  for (let i = 0; i < argv.length; i++) {
    const s = argv[i];
    if (values.includes(s)) a[key(s)] = argv[++i];
    else if (flags.includes(s)) a[key(s)] = true;
    else if (s === '-h' || s === '--help') {
      console.log(`usage: ${usage}`);
      process.exit(0);
    } else if (s.startsWith('-')) throw new Error(`unknown option ${s}`);
    else a.rest.push(s);
  }
  return a;
}

// Loads the binding from moduleDir (the installed @anush008/tokenizers package directory) or, without it, by
// require() resolution from here (which honours NODE_PATH). Returns { Tokenizer, version: "name@version",
// pkg (its package.json), pkgPath }.
export function loadBinding(moduleDir) {
  const require = createRequire(import.meta.url);
  const target = moduleDir ? path.resolve(moduleDir) : PACKAGE;
  let mod;
  try {
    mod = require(target);
  } catch (e) {
    throw new Error(`cannot load ${target} (${e.code ?? e.message}): npm install ${PACKAGE}@0.6.0 into a ` +
      'scratch directory, then set NODE_PATH=<that directory>/node_modules or pass --module ' +
      `<that directory>/node_modules/${PACKAGE}`);
  }
  const pkgPath = require.resolve(moduleDir ? path.join(target, 'package.json') : `${PACKAGE}/package.json`);
  const pkg = JSON.parse(fs.readFileSync(pkgPath, 'utf8'));
  return { Tokenizer: mod.Tokenizer, version: `${pkg.name}@${pkg.version}`, pkg, pkgPath };
}

// The versions recorded in SOURCES.json / SYNTHETIC_SOURCES.json: the npm package, the platform package that holds
// the native library (its sha256, and the Rust tokenizers crate version compiled into it) and, with
// cargoRequirement, the crate requirement of the package's Cargo.toml.
export function libraryInfo({ pkg, pkgPath }, { cargoRequirement = false } = {}) {
  const info = { npm_package: pkg.name, version: pkg.version };
  try {
    const nativePkgPath = createRequire(pkgPath).resolve(`${pkg.name}-${process.platform}-${process.arch}-gnu/package.json`);
    const nativePkg = JSON.parse(fs.readFileSync(nativePkgPath, 'utf8'));
    info.native_package = `${nativePkg.name}@${nativePkg.version}`;
    const bin = fs.readFileSync(path.join(path.dirname(nativePkgPath), nativePkg.main));
    info.native_sha256 = sha256(bin);
    const crates = new Set();
    for (const m of bin.toString('latin1').matchAll(/\btokenizers-(\d+\.\d+\.\d+)\b/g)) crates.add(m[1]);
    info.rust_tokenizers_crate = [...crates].sort().join(',') || 'unknown';
  } catch (e) {
    info.native_package = `unknown (${e.message.split('\n')[0]})`;
  }
  const cargo = path.join(path.dirname(pkgPath), 'Cargo.toml');
  if (cargoRequirement && fs.existsSync(cargo)) {
    const m = fs.readFileSync(cargo, 'utf8').match(/^tokenizers\s*=\s*(.+)$/m);
    if (m) info.cargo_requirement = m[1].trim();
  }
  return info;
}

// The "text" of every non-empty line of a JSONL file.
export function readJsonlTexts(file) {
  return fs.readFileSync(file, 'utf8').split('\n').filter((l) => l.length > 0).map((l) => JSON.parse(l).text);
}

// A tokenizer.json(.gz) file: { gz: its bytes when it is gzipped (else null), raw: the JSON's bytes }.
export function readTokenizerJson(p) {
  const bytes = fs.readFileSync(p);
  return p.endsWith('.gz') ? { gz: bytes, raw: zlib.gunzipSync(bytes) } : { gz: null, raw: bytes };
}

// Tokenizer.fromFile of `json` (a string or Buffer), written to tmpPath for the call and removed after it.
export function tokenizerFromJson(Tokenizer, json, tmpPath) {
  fs.writeFileSync(tmpPath, json);
  try {
    return Tokenizer.fromFile(tmpPath);
  } finally {
    fs.unlinkSync(tmpPath);
  }
}

// Tokenizer.fromFile of a tokenizer.json, or of a tokenizer.json.gz gunzipped to tmpPath.
export function loadTokenizer(Tokenizer, p, tmpPath) {
  if (!p.endsWith('.gz')) return Tokenizer.fromFile(p);
  return tokenizerFromJson(Tokenizer, readTokenizerJson(p).raw, tmpPath);
}

// Runs fn(dir) with a new temporary directory dir (named prefix + random), removed afterwards.
export async function withTempDir(prefix, fn) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  try {
    return await fn(dir);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

// JSON.stringify leaves C1 controls and U+2028/U+2029 raw; escape them so that no reader splitting on Unicode line
// breaks (Python's str.splitlines, for one) sees more lines than there are.
const escapeOdd = (s) =>
  s.replace(/[\u007f-\u009f\u2028\u2029]/g, (c) => '\\u' + c.charCodeAt(0).toString(16).padStart(4, '0'));

// The expected-file lines of texts (see generate_expected.mjs): { out: the JSONL text, roundTrip: the number of
// texts with decode(encode(x)) == x }.
export async function expectedLines(tok, texts) {
  const lines = [];
  let roundTrip = 0;
  for (const t of texts) {
    const plain = (await tok.encode(t, null, { addSpecialTokens: false })).getIds();
    const special = (await tok.encode(t, null, { addSpecialTokens: true })).getIds();
    const decoded = await tok.decode(plain, false);
    const decodedSkip = await tok.decode(special, true);
    if (decoded === t) roundTrip++;
    lines.push(escapeOdd(JSON.stringify({ plain, special, decoded, decoded_special_skip: decodedSkip })) + '\n');
  }
  return { out: lines.join(''), roundTrip };
}

// With check: compares jsonl (a Buffer) with outPath (gunzipped unless plain), prints
// "<label>: identical (<checkNote>)" or "<label>: DIFFERENT (...)" and returns whether it is the same. Else writes
// it to outPath (gzip -9 unless plain), prints "<label>: wrote <outPath> (<bytes> bytes; <writeNote>)" and returns
// true.
export function checkOrWrite({ outPath, jsonl, plain, check, label, checkNote, writeNote }) {
  if (check) {
    let same = false;
    if (fs.existsSync(outPath)) {
      const old = fs.readFileSync(outPath);
      same = (plain ? old : zlib.gunzipSync(old)).equals(jsonl);
    }
    console.error(`${label}: ${same ? 'identical' : 'DIFFERENT'} (${checkNote})`);
    return same;
  }
  const outBuf = plain ? jsonl : zlib.gzipSync(jsonl, { level: 9 });
  fs.mkdirSync(path.dirname(outPath), { recursive: true });
  fs.writeFileSync(outPath, outBuf);
  console.error(`${label}: wrote ${outPath} (${outBuf.length} bytes; ${writeNote})`);
  return true;
}

// Reads a JSON file, or null when there is none.
export const readJsonIfAny = (p) => (fs.existsSync(p) ? JSON.parse(fs.readFileSync(p, 'utf8')) : null);

// Writes obj as JSON indented by 2, with a final newline, and says so on stderr.
export function writeSources(p, obj) {
  fs.writeFileSync(p, JSON.stringify(obj, null, 2) + '\n');
  console.error(`wrote ${p}`);
}

// Runs the async main; an error prints its message and exits 2.
export function runMain(main) {
  main().catch((e) => {
    console.error(e instanceof Error ? e.message : e);
    process.exit(2);
  });
}
