// Calls the service through openapi-fetch typed by openapi-typescript: a prediction and its replay, the model list,
// an import (multipart: the weights Blob and the request JSON) and a training job. Any failed check exits non-zero.
import createClient from "openapi-fetch";
import type { components, paths } from "./generated/api.js";

type ImportBody = { weights: Blob; request: components["schemas"]["ImportRequest"] };

const baseUrl = process.argv[2] ?? "http://127.0.0.1:5000";
const client = createClient<paths>({ baseUrl });
const passed: string[] = [];

function check(condition: boolean, what: string): void {
  if (!condition) {
    throw new Error(`check failed: ${what}`);
  }
}

/** The call's data, or an error with the service's problem details. */
function ok<T>(result: { data?: T; error?: unknown; response: Response }, what: string): T {
  if (result.data === undefined) {
    throw new Error(`${what}: ${result.response.status} ${JSON.stringify(result.error)}`);
  }
  return result.data;
}

/** Two inputs, a hidden layer of 3, one output: the weights as safetensors (8-byte header length, JSON header, F32 data). */
function tinySafetensors(): Blob {
  const tensors: [string, number[]][] = [["layers.0.weight", [3, 2]], ["layers.0.bias", [3]], ["layers.1.weight", [1, 3]], ["layers.1.bias", [1]]];
  const header: Record<string, unknown> = {};
  const values: number[] = [];
  for (const [name, shape] of tensors) {
    const count = shape.reduce((a, b) => a * b, 1);
    header[name] = { dtype: "F32", shape, data_offsets: [4 * values.length, 4 * (values.length + count)] };
    for (let i = 0; i < count; i++) {
      values.push(0.1 * (i + 1));
    }
  }
  const json = new TextEncoder().encode(JSON.stringify(header));
  const file = new DataView(new ArrayBuffer(8 + json.length + 4 * values.length));
  file.setBigUint64(0, BigInt(json.length), true);
  new Uint8Array(file.buffer).set(json, 8);
  values.forEach((v, i) => file.setFloat32(8 + json.length + 4 * i, v, true));
  return new Blob([file.buffer], { type: "application/octet-stream" });
}

async function main(): Promise<void> {
  // A Boston row; without a seed the service picks one, and sending it back must give the same numbers.
  const row = [0.00632, 18.0, 2.31, 0, 0.538, 6.575, 65.2, 4.09, 1, 296, 15.3, 396.9, 4.98];
  const first = ok(await client.POST("/predict", { body: { inputs: [row], samples: 50 } }), "POST /predict");
  const prediction = first.predictions[0]!;
  check(Number.isSafeInteger(first.seed) && first.seed >= 0, `the server's seed ${first.seed} is within 0..2^53-1`);
  check(prediction.mean.length === 1 && prediction.epistemicVariance.length === 1, "one mean and one epistemic variance");
  const replay = ok(await client.POST("/predict", { body: { inputs: [row], samples: 50, seed: first.seed } }), "POST /predict (replay)").predictions[0]!;
  check(JSON.stringify([replay.mean, replay.epistemicVariance]) === JSON.stringify([prediction.mean, prediction.epistemicVariance]), "replaying the seed gives identical numbers");
  passed.push(`predict (mean ${prediction.mean[0]!.toFixed(3)}, epistemic variance ${prediction.epistemicVariance[0]!.toFixed(3)}, seed ${first.seed} replayed)`);

  const models = ok(await client.GET("/models"), "GET /models");
  check(models.some((m) => m.name === "boston"), "GET /models lists boston");
  passed.push(`models (${models.length})`);

  const name = "client-typescript";
  const body: ImportBody = {
    weights: tinySafetensors(),
    request: { network: { inputs: 2, hidden: [3], hiddenDropout: [0.1], head: { kind: "regression", outputs: 1 } }, makeDefault: true },
  };
  const imported = ok(
    await client.POST("/models/{name}/import", {
      params: { path: { name } },
      body,
      bodySerializer: (b: ImportBody) => {
        const form = new FormData();
        form.append("weights", b.weights, "tiny.safetensors");
        form.append("request", JSON.stringify(b.request));
        return form;
      },
    }),
    "POST /models/{name}/import",
  );
  check(imported.name === name && imported.version >= 1, "the import made a version");
  const served = ok(await client.POST("/models/{name}/predict", { params: { path: { name } }, body: { inputs: [[0.5, 1.0]], samples: 20, seed: 7 } }), "POST /models/{name}/predict");
  check(served.version === imported.version && served.predictions[0]!.mean.length === 1, "the imported version serves");
  passed.push(`import (version ${imported.version}, serves)`);

  let job = ok(
    await client.POST("/training-jobs", {
      body: {
        model: "client-typescript-trained",
        dataset: "boston",
        network: { hidden: [8], hiddenDropout: [0.1] },
        training: { epochs: 2, batchSize: 64, learningRate: 0.01, seed: 1 },
      },
    }),
    "POST /training-jobs",
  );
  for (let polls = 0; job.state === "queued" || job.state === "running"; polls++) {
    check(polls < 600, "the training job finishes within 10 minutes");
    await new Promise((resolve) => setTimeout(resolve, 1000));
    job = ok(await client.GET("/training-jobs/{id}", { params: { path: { id: job.id } } }), "GET /training-jobs/{id}");
  }
  check(job.state === "succeeded", `the training job succeeded (state ${job.state}, error ${job.error})`);
  passed.push(`training job (${job.epoch} epochs, version ${job.version})`);
}

try {
  await main();
  console.log(`typescript: ${passed.join(", ")}`);
} catch (e) {
  console.error(`typescript: failed after ${passed.join(", ")}: ${e instanceof Error ? e.message : String(e)}`);
  process.exitCode = 1;
}
