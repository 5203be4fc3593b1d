// Checks an ONNX file written by mnv4-export-onnx against a golden case: runs
// it in ONNX Runtime on the golden input and compares the logits with timm's
// (max |export - golden| / max |golden|, and the top-5 classes). Given timm's
// own export too, runs that on the same input and prints the same figures, so
// the two graphs can be seen to compute the same function. Not part of the tests.
//
//   ORT_DIR=build/ort node benchmarks/check_onnx_export.mjs GOLDEN_DIR/io.safetensors EXPORT.onnx [TIMM.onnx]
//
// Exits 1 when a file's logits are further than 2e-4 of max |golden| (the golden
// README's whole-model tolerance) or its top-5 differs.
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import path from 'node:path';

const require = createRequire(import.meta.url);
const [io, ...models] = process.argv.slice(2);
if (!io || models.length === 0) {
  console.error('usage: node check_onnx_export.mjs GOLDEN/io.safetensors EXPORT.onnx [TIMM.onnx]');
  process.exit(2);
}
if (!process.env.ORT_DIR) {
  console.error('check_onnx_export: set ORT_DIR to the folder holding node_modules/onnxruntime-node');
  process.exit(2);
}
const ort = require(path.resolve(process.env.ORT_DIR, 'node_modules', 'onnxruntime-node'));

// safetensors: u64 header length, JSON header, raw little-endian data.
function readTensors(file) {
  const buf = readFileSync(file);
  const n = Number(buf.readBigUInt64LE(0));
  const header = JSON.parse(buf.subarray(8, 8 + n).toString('utf8'));
  const base = 8 + n;
  const tensor = (name) => {
    const e = header[name];
    if (!e) throw new Error(`${file}: no tensor '${name}'`);
    if (e.dtype !== 'F32') throw new Error(`${file}: '${name}' is ${e.dtype}, expected F32`);
    const [b, end] = e.data_offsets;
    const copy = buf.subarray(base + b, base + end);
    return { shape: e.shape, data: new Float32Array(copy.buffer.slice(copy.byteOffset, copy.byteOffset + copy.length)) };
  };
  return tensor;
}

const top5 = (v) => [...v.keys()].sort((a, b) => v[b] - v[a]).slice(0, 5);

const tensors = readTensors(io);
const input = tensors('input');
const golden = tensors('logits').data;
const scale = golden.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
let failed = false;
for (const file of models) {
  const session = await ort.InferenceSession.create(file, { executionProviders: ['cpu'], graphOptimizationLevel: 'all' });
  const out = await session.run({ [session.inputNames[0]]: new ort.Tensor('float32', input.data, input.shape) });
  const logits = out[session.outputNames[0]].data;
  if (logits.length !== golden.length) throw new Error(`${file}: ${logits.length} logits, golden has ${golden.length}`);
  let worst = 0;
  for (let i = 0; i < golden.length; ++i) worst = Math.max(worst, Math.abs(logits[i] - golden[i]));
  const same = top5(logits).join() === top5(golden).join();
  const rel = worst / scale;
  console.log(`${path.basename(file)}: max|diff| ${worst.toExponential(2)} = ${rel.toExponential(2)} of max|golden|, top-5 ${same ? 'same' : 'DIFFERENT'}`);
  if (rel > 2e-4 || !same) failed = true;
}
process.exit(failed ? 1 : 0);
