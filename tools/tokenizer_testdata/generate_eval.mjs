// Expected ids for the evaluation stream (GPTQ's wikitext-2 protocol): the documents of
// tests/data/tokenizers/eval/eval.jsonl joined with "\n\n" and encoded once with special tokens, by the
// tokenizers library, for mistral and qwen3. eval.txt holds the same joined text. Run as generate_expected.mjs
// (see README.md): node generate_eval.mjs [path/to/node_modules]
import fs from 'fs';
import path from 'path';
import zlib from 'zlib';
import os from 'os';
import {createRequire} from 'module';
const here = path.dirname(new URL(import.meta.url).pathname);
const repo = path.resolve(here, '..', '..');
const data = path.join(repo, 'tests', 'data', 'tokenizers');
const require = createRequire(path.join(process.argv[2] || process.cwd(), 'x.js'));
const {Tokenizer} = require('@anush008/tokenizers');
const docs = fs.readFileSync(path.join(data, 'eval', 'eval.jsonl'), 'utf8').split('\n').filter(l => l.trim()).map(l => JSON.parse(l).text);
const joined = docs.join('\n\n');
if (joined !== fs.readFileSync(path.join(data, 'eval', 'eval.txt'), 'utf8')) throw new Error('eval.txt is not the joined eval.jsonl');
const out = {};
for (const family of ['mistral', 'qwen3']) {
  const tmp = path.join(os.tmpdir(), `fp4gptq-eval-${family}.json`);
  fs.writeFileSync(tmp, zlib.gunzipSync(fs.readFileSync(path.join(data, family, 'tokenizer.json.gz'))));
  const t = Tokenizer.fromFile(tmp);
  out[family] = (await t.encode(joined, null, {addSpecialTokens: true})).getIds();
  fs.unlinkSync(tmp);
}
fs.writeFileSync(path.join(data, 'eval', 'expected_joined.json'), JSON.stringify(out) + '\n');
console.log(Object.fromEntries(Object.entries(out).map(([k, v]) => [k, v.length])));
