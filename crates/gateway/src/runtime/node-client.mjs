// cognate's runtime client for Node.js handlers: the Lambda Runtime API
// loop (next -> handler -> response | error) around `file.export`.
// Written for cognate (see runtime.rs for why it is not AWS's client).
import http from "node:http";
import path from "node:path";
import fs from "node:fs";
import { pathToFileURL } from "node:url";

const api = process.env.AWS_LAMBDA_RUNTIME_API;
const root = process.env.LAMBDA_TASK_ROOT;
const handlerName = process.env._HANDLER;

function call(method, urlPath, body) {
  return new Promise((resolve, reject) => {
    const [host, port] = api.split(":");
    const req = http.request(
      { host, port, path: urlPath, method, headers: body ? { "content-type": "application/json" } : {} },
      (res) => {
        const chunks = [];
        res.on("data", (c) => chunks.push(c));
        res.on("end", () => resolve({ headers: res.headers, status: res.statusCode, body: Buffer.concat(chunks).toString("utf8") }));
      },
    );
    req.on("error", reject);
    if (body !== undefined) req.write(body);
    req.end();
  });
}

function errorBody(err, type) {
  const e = err instanceof Error ? err : new Error(String(err));
  return JSON.stringify({
    errorType: type || e.name || "Error",
    errorMessage: e.message,
    trace: (e.stack || "").split("\n"),
  });
}

async function loadHandler() {
  const dot = handlerName.lastIndexOf(".");
  const modulePath = handlerName.slice(0, dot);
  const exportName = handlerName.slice(dot + 1);
  const base = path.resolve(root, modulePath);
  const file = [".js", ".mjs", ".cjs"].map((x) => base + x).find((f) => fs.existsSync(f));
  if (!file) throw Object.assign(new Error(`Cannot find module '${modulePath}'`), { name: "Runtime.ImportModuleError" });
  const mod = await import(pathToFileURL(file).href);
  const fn = mod[exportName] ?? mod.default?.[exportName];
  if (typeof fn !== "function") {
    throw Object.assign(new Error(`${modulePath}.${exportName} is undefined or not exported`), { name: "Runtime.HandlerNotFound" });
  }
  return fn;
}

function invoke(handler, event, context) {
  return new Promise((resolve, reject) => {
    let done = false;
    const callback = (err, result) => {
      if (done) return;
      done = true;
      err ? reject(err) : resolve(result);
    };
    try {
      const out = handler(event, context, callback);
      if (out && typeof out.then === "function") {
        out.then((r) => callback(null, r), (e) => callback(e));
      } else if (handler.length < 3) {
        callback(null, out);
      }
    } catch (e) {
      callback(e);
    }
  });
}

let handler;
try {
  handler = await loadHandler();
} catch (e) {
  await call("POST", "/2018-06-01/runtime/init/error", errorBody(e, e.name));
  process.exit(1);
}

for (;;) {
  const next = await call("GET", "/2018-06-01/runtime/invocation/next");
  const id = next.headers["lambda-runtime-aws-request-id"];
  const deadline = Number(next.headers["lambda-runtime-deadline-ms"]);
  const context = {
    awsRequestId: id,
    invokedFunctionArn: next.headers["lambda-runtime-invoked-function-arn"],
    functionName: process.env.AWS_LAMBDA_FUNCTION_NAME,
    functionVersion: process.env.AWS_LAMBDA_FUNCTION_VERSION,
    memoryLimitInMB: process.env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE,
    logGroupName: process.env.AWS_LAMBDA_LOG_GROUP_NAME,
    logStreamName: process.env.AWS_LAMBDA_LOG_STREAM_NAME,
    callbackWaitsForEmptyEventLoop: true,
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
  };
  let event;
  try {
    event = JSON.parse(next.body);
  } catch (e) {
    await call("POST", `/2018-06-01/runtime/invocation/${id}/error`, errorBody(e, "Runtime.UnmarshalError"));
    continue;
  }
  try {
    const result = await invoke(handler, event, context);
    await call("POST", `/2018-06-01/runtime/invocation/${id}/response`, JSON.stringify(result === undefined ? null : result));
  } catch (e) {
    console.error(e);
    await call("POST", `/2018-06-01/runtime/invocation/${id}/error`, errorBody(e));
  }
}
