/**
 * Deploy-from-panel: the Python the panel runs in the notebook's kernel (to list candidate
 * models and data, and to call gp.deploy), and how it reads the answers back.
 * Pure functions; the panel sends the code with kernel.requestExecute.
 */

import { SERVICE_NAME_HINT, SERVICE_NAME_PATTERN } from './_rules';

export const MARKER = '__goldenpath_panel__';

export interface Candidate {
  name: string;
  type: string;
  shape?: (number | null)[];
}

export interface Candidates {
  models: Candidate[];
  data: Candidate[];
}

export interface DeployAnswer {
  ok: boolean;
  url?: string;
  version?: number;
  environment?: string;
  error?: string;
  hint?: string;
}

/** Lists the kernel's globals that can be deployed (a predict method or a torch Module). */
export const CANDIDATES_CODE = `
def __gp_candidates():
    import json, sys, types
    module = getattr(sys.modules.get("torch.nn"), "Module", None)
    models, data = [], []
    for key, value in list(globals().items()):
        if key.startswith("_") or isinstance(value, (type, types.ModuleType, types.FunctionType)):
            continue
        kind = type(value)
        name = f"{kind.__module__}.{kind.__qualname__}"
        try:
            is_model = (module is not None and isinstance(value, module)) or callable(
                getattr(value, "predict", None))
        except Exception:
            is_model = False
        if is_model:
            models.append({"name": key, "type": name})
        elif hasattr(value, "shape") and hasattr(value, "__getitem__"):
            shape = [s if isinstance(s, int) else None for s in tuple(getattr(value, "shape", ()))]
            if len(shape) >= 1:
                data.append({"name": key, "type": name, "shape": shape})
    print("${MARKER}" + json.dumps({"models": models, "data": data}))
__gp_candidates()
del __gp_candidates
`;

/** The marker line's JSON from a kernel's stdout, or null. */
export function readMarked<T>(stdout: string): T | null {
  const line = stdout
    .split('\n')
    .reverse()
    .find(l => l.startsWith(MARKER));
  if (!line) {
    return null;
  }
  try {
    return JSON.parse(line.slice(MARKER.length)) as T;
  } catch {
    return null;
  }
}

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;
const SAMPLE = /^[A-Za-z_][A-Za-z0-9_.]*(\[[A-Za-z0-9_:,\s-]*\])?(\.[A-Za-z_][A-Za-z0-9_]*)?$/;
export const SERVICE_NAME = new RegExp(SERVICE_NAME_PATTERN);

export interface DeployRequest {
  variable: string;
  name: string;
  sample: string;
  /** The proxy's server URL: the kernel deploys to the server the panel shows. */
  server: string;
}

/** What is wrong with a deploy request, or '' when it can be sent. */
export function validateDeploy(req: DeployRequest): string {
  if (!IDENTIFIER.test(req.variable)) {
    return 'pick a model variable from the notebook';
  }
  if (!SERVICE_NAME.test(req.name)) {
    return `name: ${SERVICE_NAME_HINT} (e.g. churn-model)`;
  }
  if (req.sample.trim() && !SAMPLE.test(req.sample.trim())) {
    return 'sample: a variable or a slice of one, e.g. X_test[:5]';
  }
  return '';
}

/** Python calling gp.deploy in the kernel, printing a marked JSON answer. */
export function deployCode(req: DeployRequest): string {
  const problem = validateDeploy(req);
  if (problem) {
    throw new Error(problem);
  }
  const sample = req.sample.trim() || 'None';
  return `
def __gp_deploy():
    import json
    try:
        import goldenpath as gp
    except ImportError:
        print("${MARKER}" + json.dumps({"ok": False, "error": "goldenpath is not installed in this kernel", "hint": "pip install goldenpath in the kernel's environment"}))
        return
    if gp.configure().server != ${JSON.stringify(req.server)}:
        gp.configure(server=${JSON.stringify(req.server)})
    try:
        d = gp.deploy(${req.variable}, name=${JSON.stringify(req.name)}, sample=${sample}, quiet=True)
    except Exception as exc:
        print("${MARKER}" + json.dumps({"ok": False, "error": getattr(exc, "message", str(exc)), "hint": getattr(exc, "hint", "")}))
        return
    print("${MARKER}" + json.dumps({"ok": True, "url": d.url, "version": d.version, "environment": d.environment}))
__gp_deploy()
del __gp_deploy
`;
}

/** A default service name for a variable: model_v2 -> model-v2. */
export function suggestName(variable: string): string {
  return (
    variable
      .toLowerCase()
      .replace(/[^a-z0-9]+/g, '-')
      .replace(/^-+|-+$/g, '')
      .slice(0, 52) || 'model'
  );
}

/** A default sample expression: the first data variable's first 5 rows. */
export function suggestSample(c: Candidates): string {
  const preferred = c.data.find(d => /test|x/i.test(d.name)) ?? c.data[0];
  return preferred ? `${preferred.name}[:5]` : '';
}
