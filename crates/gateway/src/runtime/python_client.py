"""cognate's runtime client for Python handlers: the Lambda Runtime API
loop (next -> handler -> response | error) around `module.function`.
Written for cognate (see runtime.rs for why it is not AWS's client)."""
import importlib
import json
import os
import sys
import time
import traceback
import urllib.request

API = os.environ["AWS_LAMBDA_RUNTIME_API"]
ROOT = os.environ["LAMBDA_TASK_ROOT"]
HANDLER = os.environ["_HANDLER"]


def call(method, path, body=None):
    data = None if body is None else body.encode("utf-8")
    req = urllib.request.Request(f"http://{API}{path}", data=data, method=method)
    if data is not None:
        req.add_header("content-type", "application/json")
    with urllib.request.urlopen(req) as resp:
        return resp.headers, resp.read()


def error_body(exc, error_type=None):
    return json.dumps({
        "errorType": error_type or type(exc).__name__,
        "errorMessage": str(exc),
        "stackTrace": traceback.format_exception(type(exc), exc, exc.__traceback__),
    })


class Context:
    def __init__(self, headers):
        self.aws_request_id = headers["Lambda-Runtime-Aws-Request-Id"]
        self.invoked_function_arn = headers.get("Lambda-Runtime-Invoked-Function-Arn")
        self.function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME")
        self.function_version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION")
        self.memory_limit_in_mb = os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE")
        self.log_group_name = os.environ.get("AWS_LAMBDA_LOG_GROUP_NAME")
        self.log_stream_name = os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME")
        self._deadline = int(headers.get("Lambda-Runtime-Deadline-Ms", "0"))

    def get_remaining_time_in_millis(self):
        return max(0, self._deadline - int(time.time() * 1000))


def load():
    module_name, _, function_name = HANDLER.rpartition(".")
    sys.path.insert(0, ROOT)
    module = importlib.import_module(module_name.replace("/", "."))
    fn = getattr(module, function_name, None)
    if not callable(fn):
        raise AttributeError(f"Handler '{function_name}' missing on module '{module_name}'")
    return fn


def main():
    try:
        handler = load()
    except Exception as exc:  # the init error is the whole report
        call("POST", "/2018-06-01/runtime/init/error", error_body(exc, "Runtime.ImportModuleError"))
        sys.exit(1)
    while True:
        headers, body = call("GET", "/2018-06-01/runtime/invocation/next")
        context = Context(headers)
        rid = context.aws_request_id
        try:
            event = json.loads(body)
            result = handler(event, context)
            out = json.dumps(result)
        except Exception as exc:
            traceback.print_exc()
            call("POST", f"/2018-06-01/runtime/invocation/{rid}/error", error_body(exc))
            continue
        call("POST", f"/2018-06-01/runtime/invocation/{rid}/response", out)


main()
