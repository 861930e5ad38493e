#!/usr/bin/env node
// Writes tests/data/tokenizers/eval/expected_joined.json: the expected ids for the evaluation stream (GPTQ's
// wikitext-2 protocol), i.e. the documents of tests/data/tokenizers/eval/eval.jsonl joined with "\n\n" and encoded
// once with special tokens (encode(joined, addSpecialTokens=true)) by the Hugging Face `tokenizers` library
// (through its Node binding @anush008/tokenizers), for mistral and qwen3: {"mistral": [...], "qwen3": [...]}.
// eval.txt holds the same joined text (checked). See tools/tokenizer_testdata/README.md.
//
// usage: node tools/tokenizer_testdata/generate_eval.mjs [--module DIR] [--repo DIR] [--check]
//   --module DIR  the installed @anush008/tokenizers package directory (default: resolved with require(), which
//                 honours NODE_PATH, e.g. NODE_PATH=/tmp/tokgen/node_modules)
//   --repo DIR    repository root (default: two levels above this script)
//   --check       compare with the file on disk instead of writing; exit 1 on a difference

import fs from 'node:fs';
import path from 'node:path';
import { loadBinding, loadTokenizer, parseArgs, readJsonlTexts, repoRoot, runMain, withTempDir } from './binding.mjs';

process.env.TOKENIZERS_PARALLELISM ??= 'false';

const FAMILIES = ['mistral', 'qwen3'];

async function main() {
  const args = parseArgs(process.argv.slice(2), 'generate_eval.mjs [--module DIR] [--repo DIR] [--check]',
    { values: ['--module', '--repo'], flags: ['--check'] });
  if (args.rest.length) throw new Error(`unexpected argument ${args.rest[0]} (the binding is given with --module DIR)`);
  const data = path.join(repoRoot(args.repo), 'tests', 'data', 'tokenizers');
  const { Tokenizer } = loadBinding(args.module);
  const joined = readJsonlTexts(path.join(data, 'eval', 'eval.jsonl')).join('\n\n');
  if (joined !== fs.readFileSync(path.join(data, 'eval', 'eval.txt'), 'utf8')) throw new Error('eval.txt is not the joined eval.jsonl');
  const out = {};
  await withTempDir('tokgen-eval-', async (tmpDir) => {
    for (const family of FAMILIES) {
      const tok = loadTokenizer(Tokenizer, path.join(data, family, 'tokenizer.json.gz'), path.join(tmpDir, `${family}.json`));
      out[family] = (await tok.encode(joined, null, { addSpecialTokens: true })).getIds();
    }
  });
  const outPath = path.join(data, 'eval', 'expected_joined.json');
  const json = JSON.stringify(out) + '\n';
  if (args.check) {
    const same = fs.existsSync(outPath) && fs.readFileSync(outPath, 'utf8') === json;
    console.error(`expected_joined.json: ${same ? 'identical' : 'DIFFERENT'}`);
    process.exit(same ? 0 : 1);
  }
  fs.writeFileSync(outPath, json);
  console.log(Object.fromEntries(Object.entries(out).map(([k, v]) => [k, v.length])));
}

runMain(main);
