#!/usr/bin/env node
// Writes tests/data/tokenizers/expected/synthetic_<name>.jsonl.gz: what the Hugging Face `tokenizers` Rust library
// (through its Node binding @anush008/tokenizers) makes of the synthetic tokenizer variants
// tests/data/tokenizers/synthetic/<name>.json, and expected/SYNTHETIC_SOURCES.json (library version, hashes).
// See tools/tokenizer_testdata/README.md.
//
// usage: node tools/tokenizer_testdata/generate_synthetic.mjs [--module DIR] [--repo DIR] [--check] [--plain] [NAME...]
//   --module DIR  the installed @anush008/tokenizers package directory (default: resolved with require(), which
//                 honours NODE_PATH, e.g. NODE_PATH=/tmp/tokgen/node_modules)
//   --repo DIR    repository root (default: two levels above this script)
//   --check       compare with the files on disk (their gunzipped content) instead of writing; exit 1 on a difference
//   --plain       write synthetic_<name>.jsonl uncompressed instead of .jsonl.gz (gzip -9, no name, mtime 0)
//   NAME...       only these variants (default: every synthetic/*.json)
//
// A variant file is {"base": "<family>", "patch": {...}, "note": "..."}. The tokenizer it stands for is the
// family's tokenizer.json (tests/data/tokenizers/<family>/tokenizer.json.gz, gunzipped, JSON.parse) with, for each
// key K of "patch": K == "model_options": its keys assigned into the "model" object (Object.assign, so a key
// replaces the model's key of that name, the others stay); any other K: the top-level key K replaced by the value
// (null included). The result is JSON.stringify'd to a temporary file and loaded with Tokenizer.fromFile.
// After loading, every entry of the patched "added_tokens" must have the id the library gave its content
// (tokenToId); the library assigns ids itself (the model's id for a content in the vocabulary, else the next free
// one, in list order) and ignores the file's ids, so the files carry the ids it assigns.
//
// The texts: the first 300 lines of tests/data/tokenizers/corpus.jsonl, then every line of
// tests/data/tokenizers/synthetic/extra_corpus.jsonl. Output line i is for text i:
//   {"plain": ids of encode(text, addSpecialTokens=false),
//    "special": ids of encode(text, addSpecialTokens=true),
//    "decoded": decode(plain, skipSpecialTokens=false),
//    "decoded_special_skip": decode(special, skipSpecialTokens=true)}
// (the format of generate_expected.mjs).
//
// The library panics (and the Node process aborts, nothing written) on some valid-looking configurations, so the
// variants avoid them: a "Strip" decoder with stop > 0 on an empty token (so never after Fuse or ByteLevel, which
// make one empty token of an empty text) or with start > 0 and stop > 0 on a token made of a single stripped
// character (strip.rs: chars.len() - i - 1 underflows, or start_cut > stop_cut); and a "Replace" normalizer with
// some patterns that match the empty string ({"String": ""}, "x*", "(?=o)": normalizer.rs index out of bounds).

import { createRequire } from 'node:module';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import zlib from 'node:zlib';

process.env.TOKENIZERS_PARALLELISM ??= 'false';

const CORPUS_PREFIX = 300;
const FAMILIES = ['qwen3', 'llama3', 'mistral', 'gemma3', 'deepseek_v3'];

function parseArgs(argv) {
  const a = { module: null, repo: null, check: false, plain: false, names: [] };
  for (let i = 0; i < argv.length; i++) {
    const s = argv[i];
    if (s === '--module') a.module = argv[++i];
    else if (s === '--repo') a.repo = argv[++i];
    else if (s === '--check') a.check = true;
    else if (s === '--plain') a.plain = true;
    else if (s === '-h' || s === '--help') {
      console.log('usage: generate_synthetic.mjs [--module DIR] [--repo DIR] [--check] [--plain] [NAME...]');
      process.exit(0);
    } else if (s.startsWith('-')) throw new Error(`unknown option ${s}`);
    else a.names.push(s);
  }
  return a;
}

const sha256 = (buf) => createHash('sha256').update(buf).digest('hex');

// As generate_expected.mjs: escape C1 controls and U+2028/U+2029 so that every reader sees one line per record.
const escapeOdd = (s) =>
  s.replace(/[\u007f-\u009f\u2028\u2029]/g, (c) => '\\u' + c.charCodeAt(0).toString(16).padStart(4, '0'));

function loadBinding(moduleDir) {
  const require = createRequire(import.meta.url);
  const target = moduleDir ? path.resolve(moduleDir) : '@anush008/tokenizers';
  let mod;
  try {
    mod = require(target);
  } catch (e) {
    throw new Error(`cannot load ${target} (${e.code ?? e.message}): npm install @anush008/tokenizers@0.6.0 into a ` +
      'scratch directory, then set NODE_PATH=<that directory>/node_modules or pass --module ' +
      '<that directory>/node_modules/@anush008/tokenizers');
  }
  const pkgPath = require.resolve(moduleDir ? path.join(target, 'package.json') : '@anush008/tokenizers/package.json');
  const pkg = JSON.parse(fs.readFileSync(pkgPath, 'utf8'));
  const info = { npm_package: pkg.name, version: pkg.version };
  try {
    const req2 = createRequire(pkgPath);
    const nativePkgPath = req2.resolve(`${pkg.name}-${process.platform}-${process.arch}-gnu/package.json`);
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
  return { Tokenizer: mod.Tokenizer, info };
}

function readJsonl(file) {
  return fs.readFileSync(file, 'utf8').split('\n').filter((l) => l.length > 0).map((l) => JSON.parse(l).text);
}

// The patched tokenizer.json text of a variant (see the header).
function patchedJson(variant, baseText, where) {
  const j = JSON.parse(baseText);
  for (const [key, value] of Object.entries(variant.patch)) {
    if (key === 'model_options') {
      if (!value || typeof value !== 'object' || Array.isArray(value)) throw new Error(`${where}: model_options: expected an object`);
      if (!j.model || typeof j.model !== 'object') throw new Error(`${where}: the base has no "model" object`);
      Object.assign(j.model, value);
    } else {
      j[key] = value;
    }
  }
  return { json: j, text: JSON.stringify(j) };
}

async function runVariant(Tokenizer, tmpDir, name, variant, baseText, texts) {
  const where = `synthetic/${name}.json`;
  const { json, text } = patchedJson(variant, baseText, where);
  const tmp = path.join(tmpDir, `${name}.tokenizer.json`);
  fs.writeFileSync(tmp, text);
  let tok;
  try {
    tok = Tokenizer.fromFile(tmp);
  } catch (e) {
    throw new Error(`${where}: the library rejects the patched tokenizer.json: ${e.message}`);
  } finally {
    fs.unlinkSync(tmp);
  }
  for (const t of json.added_tokens ?? []) {
    const got = tok.tokenToId(t.content);
    if (got !== t.id) throw new Error(`${where}: added token ${JSON.stringify(t.content)} has id ${t.id} in the file, the library gives it ${got}`);
  }
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
  return { out: lines.join(''), roundTrip, patchedSha: sha256(Buffer.from(text, 'utf8')) };
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const here = path.dirname(fileURLToPath(import.meta.url));
  const repo = path.resolve(args.repo ?? path.join(here, '..', '..'));
  const dataDir = path.join(repo, 'tests', 'data', 'tokenizers');
  const synDir = path.join(dataDir, 'synthetic');
  const expDir = path.join(dataDir, 'expected');
  const { Tokenizer, info } = loadBinding(args.module);

  const all = fs.readdirSync(synDir).filter((f) => f.endsWith('.json')).map((f) => f.slice(0, -5)).sort();
  for (const n of args.names) if (!all.includes(n)) throw new Error(`unknown variant ${n} (no synthetic/${n}.json)`);
  const names = args.names.length ? args.names : all;

  const corpusPath = path.join(dataDir, 'corpus.jsonl');
  const extraPath = path.join(synDir, 'extra_corpus.jsonl');
  const corpus = readJsonl(corpusPath);
  if (corpus.length < CORPUS_PREFIX) throw new Error(`corpus.jsonl has ${corpus.length} texts, fewer than ${CORPUS_PREFIX}`);
  const extra = readJsonl(extraPath);
  const texts = [...corpus.slice(0, CORPUS_PREFIX), ...extra];

  const baseCache = new Map();
  const baseText = (family) => {
    if (!FAMILIES.includes(family)) throw new Error(`unknown base family ${family}`);
    if (!baseCache.has(family)) {
      const gz = fs.readFileSync(path.join(dataDir, family, 'tokenizer.json.gz'));
      baseCache.set(family, { text: zlib.gunzipSync(gz).toString('utf8'), gz_sha256: sha256(gz) });
    }
    return baseCache.get(family);
  };

  const tmpDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tokgen-syn-'));
  const sourcesPath = path.join(expDir, 'SYNTHETIC_SOURCES.json');
  const previous = fs.existsSync(sourcesPath) ? JSON.parse(fs.readFileSync(sourcesPath, 'utf8')) : null;
  const variants = {};
  let failed = false;
  try {
    for (const name of names) {
      const t0 = Date.now();
      const file = path.join(synDir, `${name}.json`);
      const raw = fs.readFileSync(file);
      const variant = JSON.parse(raw.toString('utf8'));
      if (typeof variant.base !== 'string' || !variant.patch || typeof variant.patch !== 'object')
        throw new Error(`synthetic/${name}.json: expected {"base": family, "patch": {...}, "note": ...}`);
      const base = baseText(variant.base);
      const { out, roundTrip, patchedSha } = await runVariant(Tokenizer, tmpDir, name, variant, base.text, texts);
      const outName = `synthetic_${name}.jsonl${args.plain ? '' : '.gz'}`;
      const outPath = path.join(expDir, outName);
      const jsonl = Buffer.from(out, 'utf8');
      variants[name] = {
        variant: `tests/data/tokenizers/synthetic/${name}.json`,
        variant_sha256: sha256(raw),
        base: variant.base,
        base_gz_sha256: base.gz_sha256,
        patched_json_sha256: patchedSha,
        expected: `tests/data/tokenizers/expected/${outName}`,
        expected_jsonl_sha256: sha256(jsonl),
      };
      const secs = ((Date.now() - t0) / 1000).toFixed(1);
      if (args.check) {
        let same = false;
        if (fs.existsSync(outPath)) {
          const old = fs.readFileSync(outPath);
          same = (args.plain ? old : zlib.gunzipSync(old)).equals(jsonl);
        }
        console.error(`${name}: ${same ? 'identical' : 'DIFFERENT'} (${texts.length} texts, ${secs} s)`);
        failed ||= !same;
      } else {
        const outBuf = args.plain ? jsonl : zlib.gzipSync(jsonl, { level: 9 });
        fs.writeFileSync(outPath, outBuf);
        console.error(`${name}: wrote ${outPath} (${outBuf.length} bytes; ${texts.length} texts, ` +
          `decode(encode(x)) == x for ${roundTrip}; ${secs} s)`);
      }
    }
  } finally {
    fs.rmSync(tmpDir, { recursive: true, force: true });
  }
  if (args.check) process.exit(failed ? 1 : 0);

  const merged = { ...(previous?.variants ?? {}), ...variants };
  const sources = {
    generator: 'tools/tokenizer_testdata/generate_synthetic.mjs',
    library: info,
    node: process.version,
    corpus: {
      file: 'tests/data/tokenizers/corpus.jsonl', sha256: sha256(fs.readFileSync(corpusPath)), texts_used: CORPUS_PREFIX,
      extra: 'tests/data/tokenizers/synthetic/extra_corpus.jsonl', extra_sha256: sha256(fs.readFileSync(extraPath)),
      extra_texts: extra.length, total_texts: texts.length,
    },
    variants: Object.fromEntries(Object.keys(merged).filter((n) => all.includes(n)).sort().map((n) => [n, merged[n]])),
  };
  fs.writeFileSync(sourcesPath, JSON.stringify(sources, null, 2) + '\n');
  console.error(`wrote ${sourcesPath}`);
}

main().catch((e) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(2);
});
