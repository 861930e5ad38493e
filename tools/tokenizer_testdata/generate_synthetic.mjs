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

import fs from 'node:fs';
import path from 'node:path';
import {
  checkOrWrite, expectedLines, libraryInfo, loadBinding, parseArgs, readJsonIfAny, readJsonlTexts, readTokenizerJson,
  repoRoot, runMain, sha256, tokenizerFromJson, withTempDir, writeSources,
} from './binding.mjs';

process.env.TOKENIZERS_PARALLELISM ??= 'false';

const CORPUS_PREFIX = 300;
const FAMILIES = ['qwen3', 'llama3', 'mistral', 'gemma3', 'deepseek_v3'];

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
  let tok;
  try {
    tok = tokenizerFromJson(Tokenizer, text, path.join(tmpDir, `${name}.tokenizer.json`));
  } catch (e) {
    throw new Error(`${where}: the library rejects the patched tokenizer.json: ${e.message}`);
  }
  for (const t of json.added_tokens ?? []) {
    const got = tok.tokenToId(t.content);
    if (got !== t.id) throw new Error(`${where}: added token ${JSON.stringify(t.content)} has id ${t.id} in the file, the library gives it ${got}`);
  }
  const { out, roundTrip } = await expectedLines(tok, texts);
  return { out, roundTrip, patchedSha: sha256(Buffer.from(text, 'utf8')) };
}

async function main() {
  const args = parseArgs(process.argv.slice(2),
    'generate_synthetic.mjs [--module DIR] [--repo DIR] [--check] [--plain] [NAME...]',
    { values: ['--module', '--repo'], flags: ['--check', '--plain'] });
  const dataDir = path.join(repoRoot(args.repo), 'tests', 'data', 'tokenizers');
  const synDir = path.join(dataDir, 'synthetic');
  const expDir = path.join(dataDir, 'expected');
  const binding = loadBinding(args.module);

  const all = fs.readdirSync(synDir).filter((f) => f.endsWith('.json')).map((f) => f.slice(0, -5)).sort();
  for (const n of args.rest) if (!all.includes(n)) throw new Error(`unknown variant ${n} (no synthetic/${n}.json)`);
  const names = args.rest.length ? args.rest : all;

  const corpusPath = path.join(dataDir, 'corpus.jsonl');
  const extraPath = path.join(synDir, 'extra_corpus.jsonl');
  const corpus = readJsonlTexts(corpusPath);
  if (corpus.length < CORPUS_PREFIX) throw new Error(`corpus.jsonl has ${corpus.length} texts, fewer than ${CORPUS_PREFIX}`);
  const extra = readJsonlTexts(extraPath);
  const texts = [...corpus.slice(0, CORPUS_PREFIX), ...extra];

  const baseCache = new Map();
  const baseText = (family) => {
    if (!FAMILIES.includes(family)) throw new Error(`unknown base family ${family}`);
    if (!baseCache.has(family)) {
      const { gz, raw } = readTokenizerJson(path.join(dataDir, family, 'tokenizer.json.gz'));
      baseCache.set(family, { text: raw.toString('utf8'), gz_sha256: sha256(gz) });
    }
    return baseCache.get(family);
  };

  const sourcesPath = path.join(expDir, 'SYNTHETIC_SOURCES.json');
  const previous = readJsonIfAny(sourcesPath);
  const variants = {};
  let failed = false;
  await withTempDir('tokgen-syn-', async (tmpDir) => {
    for (const name of names) {
      const t0 = Date.now();
      const raw = fs.readFileSync(path.join(synDir, `${name}.json`));
      const variant = JSON.parse(raw.toString('utf8'));
      if (typeof variant.base !== 'string' || !variant.patch || typeof variant.patch !== 'object')
        throw new Error(`synthetic/${name}.json: expected {"base": family, "patch": {...}, "note": ...}`);
      const base = baseText(variant.base);
      const { out, roundTrip, patchedSha } = await runVariant(binding.Tokenizer, tmpDir, name, variant, base.text, texts);
      const outName = `synthetic_${name}.jsonl${args.plain ? '' : '.gz'}`;
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
      failed ||= !checkOrWrite({
        outPath: path.join(expDir, outName), jsonl, plain: args.plain, check: args.check, label: name,
        checkNote: `${texts.length} texts, ${secs} s`,
        writeNote: `${texts.length} texts, decode(encode(x)) == x for ${roundTrip}; ${secs} s`,
      });
    }
  });
  if (args.check) process.exit(failed ? 1 : 0);

  const merged = { ...(previous?.variants ?? {}), ...variants };
  writeSources(sourcesPath, {
    generator: 'tools/tokenizer_testdata/generate_synthetic.mjs',
    library: libraryInfo(binding),
    node: process.version,
    corpus: {
      file: 'tests/data/tokenizers/corpus.jsonl', sha256: sha256(fs.readFileSync(corpusPath)), texts_used: CORPUS_PREFIX,
      extra: 'tests/data/tokenizers/synthetic/extra_corpus.jsonl', extra_sha256: sha256(fs.readFileSync(extraPath)),
      extra_texts: extra.length, total_texts: texts.length,
    },
    variants: Object.fromEntries(Object.keys(merged).filter((n) => all.includes(n)).sort().map((n) => [n, merged[n]])),
  });
}

runMain(main);
