#!/usr/bin/env node
// Times the Hugging Face `tokenizers` Rust library (through its Node binding @anush008/tokenizers) encoding a text
// file, as the reference for fp4gptq's C++ tokenizer.
//
// usage: node bench/tokenizer/tokenizers_bench.mjs --text FILE [--module DIR] [--repeat 5] [--chunk-bytes 65536]
//                                                  [--modes whole,chunks] TOKENIZER_JSON[.gz]...
//   --module DIR       the installed @anush008/tokenizers package directory (default: require() resolution, which
//                      honours NODE_PATH)
//   --repeat N         timed runs per mode; the best is reported (default 5)
//   --chunk-bytes N    "chunks" mode splits the text at line ends into pieces of about N bytes (default 65536) and
//                      encodes them one after another
//
// For each tokenizer and mode it prints one JSON line:
//   {"tokenizer": name, "bytes": n, "tokens": n, "seconds": s, "mb_per_s": x, "tokens_per_s": y, "mode": m}
// name is the directory of a tokenizer.json(.gz) (e.g. "qwen3"), else the file name; MB = 10^6 bytes; seconds is the
// best of --repeat runs of encode(text, addSpecialTokens=false), after one warm-up run (which also fills the BPE
// word cache of the library, as in any long-running use). Each run is sequential: one call at a time, and
// TOKENIZERS_PARALLELISM=false / RAYON_NUM_THREADS=1 are set, so the library uses one thread. The time covers the
// call into the library (normalization, pre-tokenization, BPE, the offsets it computes alongside) and its return to
// JavaScript, not the copy of the ids out of the Encoding. Also printed: "cpu_seconds", the best CPU time of this
// process over the same runs (less disturbed than wall time on a busy machine). Versions and the text's sha256 go to
// stderr.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  loadBinding, loadTokenizer, parseArgs, runMain, sha256, withTempDir,
} from '../../tools/tokenizer_testdata/binding.mjs';

process.env.TOKENIZERS_PARALLELISM = 'false';
process.env.RAYON_NUM_THREADS = '1';

const USAGE = 'tokenizers_bench.mjs --text FILE [--module DIR] [--repeat N] [--chunk-bytes N] ' +
  '[--modes whole,chunks] TOKENIZER_JSON[.gz]...';

function parseBenchArgs(argv) {
  const a = parseArgs(argv, USAGE, { values: ['--text', '--module', '--repeat', '--chunk-bytes', '--modes'] });
  const count = (v, dflt) => (v === null ? dflt : Math.max(1, parseInt(v, 10)));
  const args = {
    text: a.text, module: a.module, repeat: count(a.repeat, 5), chunkBytes: count(a.chunkBytes, 65536),
    modes: a.modes === null ? ['whole', 'chunks'] : a.modes.split(','), tokenizers: a.rest,
  };
  if (!args.text || args.tokenizers.length === 0) throw new Error('need --text FILE and at least one tokenizer.json(.gz)');
  for (const m of args.modes) if (m !== 'whole' && m !== 'chunks') throw new Error(`unknown mode ${m}`);
  return args;
}

// Splits at line ends into pieces of at least `size` bytes (the last may be shorter); each piece keeps its '\n'.
function chunksOf(text, size) {
  const out = [];
  let start = 0;
  let bytes = 0;
  let i = 0;
  while (i < text.length) {
    const nl = text.indexOf('\n', i);
    const end = nl < 0 ? text.length : nl + 1;
    bytes += Buffer.byteLength(text.slice(i, end), 'utf8');
    i = end;
    if (bytes >= size) {
      out.push(text.slice(start, i));
      start = i;
      bytes = 0;
    }
  }
  if (start < text.length) out.push(text.slice(start));
  return out;
}

function tokenizerName(p) {
  const base = path.basename(p).replace(/\.gz$/, '');
  return base === 'tokenizer.json' ? path.basename(path.dirname(path.resolve(p))) : base.replace(/\.json$/, '');
}

async function encodeAll(tok, pieces) {
  const encodings = [];
  const c0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  for (const piece of pieces) encodings.push(await tok.encode(piece, null, { addSpecialTokens: false }));
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const c = process.cpuUsage(c0);
  return { seconds, cpuSeconds: (c.user + c.system) / 1e6, encodings };
}

async function main() {
  const args = parseBenchArgs(process.argv.slice(2));
  const { Tokenizer, version } = loadBinding(args.module);
  const buf = fs.readFileSync(args.text);
  const text = buf.toString('utf8');
  const bytes = buf.length;
  console.error(`library ${version}, node ${process.version}, ${os.cpus()[0]?.model ?? 'cpu'}; text ${args.text}: ` +
    `${bytes} bytes, sha256 ${sha256(buf)}`);
  await withTempDir('tokbench-', async (tmpDir) => {
    for (const p of args.tokenizers) {
      const name = tokenizerName(p);
      const tl = Date.now();
      const tok = loadTokenizer(Tokenizer, p, path.join(tmpDir, `${name}.${process.pid}.json`));
      console.error(`${name}: loaded in ${((Date.now() - tl) / 1000).toFixed(2)} s`);
      for (const mode of args.modes) {
        const pieces = mode === 'whole' ? [text] : chunksOf(text, args.chunkBytes);
        const warm = await encodeAll(tok, pieces);
        const tokens = warm.encodings.reduce((n, e) => n + e.getLength(), 0);
        let best = Infinity;
        let bestCpu = Infinity;
        for (let r = 0; r < args.repeat; r++) {
          const run = await encodeAll(tok, pieces);
          best = Math.min(best, run.seconds);
          bestCpu = Math.min(bestCpu, run.cpuSeconds);
        }
        console.log(JSON.stringify({
          tokenizer: name,
          bytes,
          tokens,
          seconds: Number(best.toFixed(6)),
          mb_per_s: Number((bytes / 1e6 / best).toFixed(3)),
          tokens_per_s: Math.round(tokens / best),
          mode,
          cpu_seconds: Number(bestCpu.toFixed(6)),
        }));
      }
    }
  });
}

runMain(main);
