// Where ONNX Runtime spends its time, block by block: runs an ONNX export with
// ORT's profiler on and prints the median time of every timm block
// (blocks.S.I), the stem (conv_stem) and the head, summed over their nodes:
// the rows `mnv4-run --bench N --profile` prints for mnv4. Works on timm's
// exports and on mnv4-export-onnx's (same node names). Not part of the build
// or the tests.
//
//   ORT_DIR=build/ort node benchmarks/ort_profile.mjs <model.onnx> [threads=1] [runs=50]
//
// ORT_DIR: a folder whose node_modules/ holds onnxruntime-node (compare_ort.sh
// installs it into build/ort).
import { createRequire } from 'node:module';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const require = createRequire(import.meta.url);
const [file, threadsArg = '1', runsArg = '50'] = process.argv.slice(2);
if (!file) {
  console.error('usage: node ort_profile.mjs <model.onnx> [threads=1] [runs=50]');
  process.exit(2);
}
const ortDir = process.env.ORT_DIR;
if (!ortDir) {
  console.error('ort_profile: set ORT_DIR to the folder holding node_modules/onnxruntime-node');
  process.exit(2);
}
const ort = require(path.resolve(ortDir, 'node_modules', 'onnxruntime-node'));
const threads = Number(threadsArg), runs = Number(runsArg);
const warmup = Math.min(10, Math.floor(runs / 5));

const dir = mkdtempSync(path.join(os.tmpdir(), 'ort-profile-'));
const sess = await ort.InferenceSession.create(file, {
  executionProviders: ['cpu'],
  intraOpNumThreads: threads,
  interOpNumThreads: 1,
  graphOptimizationLevel: 'all',
  executionMode: 'sequential',
  enableProfiling: true,
  profileFilePrefix: path.join(dir, 'profile'),
});
const meta = sess.inputMetadata?.[0];
let shape = meta?.shape;
if (!Array.isArray(shape) || !shape.every((d) => typeof d === 'number' && d > 0)) {
  const m = /_(\d+)\.onnx$/.exec(file);
  if (!m) throw new Error(`${file}: cannot tell the input size (expected a fixed shape or a name ending _<res>.onnx)`);
  shape = [1, 3, Number(m[1]), Number(m[1])];
}
const data = new Float32Array(shape.reduce((a, b) => a * b, 1)).map((_, i) => ((i * 2654435761) % 1000) / 500 - 1);
const feeds = { [sess.inputNames[0]]: new ort.Tensor('float32', data, shape) };
for (let i = 0; i < warmup + runs; i++) await sess.run(feeds);
await sess.endProfiling?.();  // writes the trace file
await sess.release?.();

// The profile is a Chrome trace: one 'Node' event per kernel per run, one 'model_run' per run.
const traces = readdirSync(dir).filter((f) => f.endsWith('.json'));
if (traces.length !== 1) throw new Error(`ort_profile: expected one trace in ${dir}, found ${traces.length}`);
const trace = JSON.parse(readFileSync(path.join(dir, traces[0]), 'utf8'));
rmSync(dir, { recursive: true, force: true });

const median = (v) => {
  const s = [...v].sort((a, b) => a - b);
  return s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
// A node belongs to the timm module its name carries; nodes ONNX Runtime made
// up itself (fused Gelu, NCHWc reorders) carry none and belong to the block
// that runs around them, the one of the node before them in execution order.
const nodes = trace.filter((e) => e.cat === 'Node' && e.name.endsWith('_kernel_time')).sort((a, b) => a.ts - b.ts);
const moduleOf = (name) => {
  const m = /blocks\.(\d+)\.(\d+)/.exec(name);
  if (m) return `blocks.${m[1]}.${m[2]}`;
  if (/conv_stem|bn1/.test(name)) return 'conv_stem';
  if (/global_pool|conv_head|norm_head|flatten|classifier/.test(name)) return 'head';
  return null;
};
const groupOfNode = new Map();
let current = 'conv_stem';
for (const e of nodes) {
  const key = e.name.slice(0, -'_kernel_time'.length);
  current = moduleOf(key) ?? current;
  if (!groupOfNode.has(key)) groupOfNode.set(key, current);
}
const perNode = new Map();
for (const e of nodes) {
  const key = e.name.slice(0, -'_kernel_time'.length);
  if (!perNode.has(key)) perNode.set(key, []);
  perNode.get(key).push(e.dur);
}
const groups = new Map();
for (const [name, durs] of perNode) {
  const g = groupOfNode.get(name);
  groups.set(g, (groups.get(g) ?? 0) + median(durs.slice(warmup)));
}
const runTimes = trace.filter((e) => e.cat === 'Session' && e.name === 'model_run').map((e) => e.dur).slice(warmup);
console.log(`ort ${path.basename(file)} threads=${threads} runs=${runs} median_run_us=${median(runTimes).toFixed(0)}`);
let total = 0;
for (const [g, us] of groups) {
  console.log(`${g.padEnd(16)} ${us.toFixed(0).padStart(7)} us`);
  total += us;
}
console.log(`${'sum of nodes'.padEnd(16)} ${total.toFixed(0).padStart(7)} us (profiling adds a little per node)`);
