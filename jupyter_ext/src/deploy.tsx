/** Deploy from the panel: list the notebook kernel's models, run gp.deploy in that kernel. */
import { Kernel, KernelMessage } from '@jupyterlab/services';
import * as React from 'react';

import { ErrorBox, Problem } from './components';
import {
  Candidates,
  CANDIDATES_CODE,
  DeployAnswer,
  deployCode,
  readMarked,
  suggestName,
  suggestSample,
  validateDeploy
} from './kernel';
import { GpEvent, parseTime } from './model';

export interface KernelAccess {
  kernel: () => Kernel.IKernelConnection | null;
  notebook: () => string;
}

/** Runs `code` in `kernel`, returning what it printed (stdout and tracebacks). */
export async function runInKernel(kernel: Kernel.IKernelConnection, code: string)
  : Promise<string> {
  const future = kernel.requestExecute({ code, silent: false, store_history: false });
  let out = '';
  future.onIOPub = (msg: KernelMessage.IIOPubMessage) => {
    if (KernelMessage.isStreamMsg(msg)) {
      out += msg.content.text;
    } else if (KernelMessage.isErrorMsg(msg)) {
      out += `${msg.content.ename}: ${msg.content.evalue}\n`;
    }
  };
  await future.done;
  return out;
}

export function DeployForm(props: {
  access: KernelAccess;
  server: string;
  events: GpEvent[];
  onDeployed: (name: string) => void;
  onClose: () => void;
}): JSX.Element {
  const [candidates, setCandidates] = React.useState<Candidates | null>(null);
  const [variable, setVariable] = React.useState('');
  const [name, setName] = React.useState('');
  const [sample, setSample] = React.useState('');
  const [problem, setProblem] = React.useState<Problem | null>(null);
  const [running, setRunning] = React.useState<{ name: string; since: number } | null>(null);
  const [result, setResult] = React.useState<DeployAnswer | null>(null);
  const kernel = props.access.kernel();

  const scan = async () => {
    setProblem(null);
    const k = props.access.kernel();
    if (!k) {
      return;
    }
    const found = readMarked<Candidates>(await runInKernel(k, CANDIDATES_CODE));
    if (!found) {
      setProblem({ message: 'the kernel did not answer with its variables',
        hint: 'run the notebook cells that create your model, then Refresh' });
      return;
    }
    setCandidates(found);
    if (found.models.length > 0 && !variable) {
      setVariable(found.models[0].name);
      setName(suggestName(found.models[0].name));
    }
    if (!sample) {
      setSample(suggestSample(found));
    }
  };
  React.useEffect(() => { void scan(); }, [kernel?.id]);

  if (!kernel) {
    return (
      <div className="gp-deploy">
        <div className="gp-empty">
          Open a notebook (and run the cells that train your model) to deploy from its kernel.
        </div>
        <button className="jp-mod-styled gp-button" onClick={props.onClose}>Close</button>
      </div>
    );
  }
  const request = { variable, name, sample, server: props.server };
  const invalid = validateDeploy(request);
  const deploy = async () => {
    setProblem(null);
    setResult(null);
    setRunning({ name, since: Date.now() });
    try {
      const answer = readMarked<DeployAnswer>(await runInKernel(kernel, deployCode(request)));
      if (!answer) {
        setProblem({ message: 'the kernel stopped before gp.deploy answered',
          hint: 'check the kernel is idle and goldenpath is installed in it' });
      } else if (!answer.ok) {
        setProblem({ message: answer.error ?? 'deploy failed', hint: answer.hint ?? '' });
      } else {
        setResult(answer);
        props.onDeployed(name);
      }
    } catch (error) {
      setProblem({ message: String(error), hint: '' });
    } finally {
      setRunning(null);
    }
  };
  const progress = running
    ? props.events.filter(e => e.service === running.name && parseTime(e.at) >= running.since - 2000)
    : [];
  return (
    <div className="gp-deploy">
      <div className="gp-muted">From the kernel of <b>{props.access.notebook()}</b></div>
      <label className="gp-field">
        <span>Model variable</span>
        <select className="jp-mod-styled" value={variable} aria-label="model variable"
          onChange={e => { setVariable(e.target.value); setName(suggestName(e.target.value)); }}>
          {(candidates?.models ?? []).map(c => (
            <option key={c.name} value={c.name}>{c.name} ({c.type})</option>
          ))}
        </select>
      </label>
      {candidates && candidates.models.length === 0 && (
        <div className="gp-empty">No model found in this kernel (objects with a
          <code>predict</code> method or a <code>torch.nn.Module</code>). Run the cell that
          trains it, then Refresh.</div>
      )}
      <label className="gp-field">
        <span>Service name</span>
        <input className="jp-mod-styled" value={name} onChange={e => setName(e.target.value)} />
      </label>
      <label className="gp-field">
        <span>Sample rows (infers the input schema)</span>
        <input className="jp-mod-styled" value={sample} placeholder="X_test[:5]"
          list="gp-data-vars" onChange={e => setSample(e.target.value)} />
        <datalist id="gp-data-vars">
          {(candidates?.data ?? []).map(c => <option key={c.name} value={`${c.name}[:5]`} />)}
        </datalist>
      </label>
      <div className="gp-actions">
        <button className="jp-mod-styled jp-mod-accept gp-button"
          disabled={!!invalid || !!running} title={invalid} onClick={() => void deploy()}>
          {running ? 'Deploying…' : 'Deploy'}
        </button>
        <button className="jp-mod-styled gp-button" disabled={!!running}
          onClick={() => void scan()}>Refresh</button>
        <button className="jp-mod-styled gp-button" onClick={props.onClose}>Close</button>
      </div>
      {running && (
        <ol className="gp-progress">
          <li>packaging and parity check in the kernel
            ({Math.round((Date.now() - running.since) / 1000)}s)</li>
          {progress.map(e => <li key={e.id}>{e.message}</li>)}
        </ol>
      )}
      {result && (
        <div className="gp-answer">
          ✓ {name} v{result.version} is live in {result.environment}: <code>{result.url}</code>
        </div>
      )}
      {problem && <ErrorBox title="Deploy failed" problem={problem} />}
    </div>
  );
}
