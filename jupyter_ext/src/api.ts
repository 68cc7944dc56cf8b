/**
 * The panel's client for the Jupyter server extension (/goldenpath/...), which proxies to the
 * promotion server with the user's token. Every failure is an ApiError {status, code,
 * message, hint}; 404s on optional APIs (approvals, roles) become "not available".
 */
import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

import type { components } from './_openapi';

import {
  GpEvent,
  Me,
  messageOf,
  Promotion,
  Release,
  Service,
  ServiceSummary
} from './model';
import { DriftStatus } from './drift';
import { PlatformFigures } from './figures';
import { Progression, RolloutAction } from './progression';

export interface ServerInfo {
  server: string;
  reachable: boolean;
  token: boolean;
  user: string;
  message: string;
  hint: string;
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly hint: string = '',
    readonly details: any = null
  ) {
    super(message);
  }
}

const EXTENSION_MISSING =
  'the goldenpath_jupyter server extension is not enabled: install it into the Python that ' +
  'runs JupyterLab (from the goldenpath repository: `.venv/bin/pip install ' +
  '--no-build-isolation ./jupyter_ext`, or `jupyter server extension enable ' +
  'goldenpath_jupyter`) and restart JupyterLab';

export class GoldenpathApi {
  constructor(private readonly settings = ServerConnection.makeSettings()) {}

  async request<T>(path: string, init: RequestInit = {}): Promise<T> {
    return (await this.fetch(path, init)).body as T;
  }

  /** GET a page that is not JSON (a drift report's HTML); failures as for request(). */
  async text(path: string): Promise<string> {
    return (await this.fetch(path, {})).text;
  }

  private async fetch(path: string, init: RequestInit): Promise<{ text: string; body: any }> {
    const url = URLExt.join(this.settings.baseUrl, 'goldenpath', path);
    let response: Response;
    try {
      response = await ServerConnection.makeRequest(url, init, this.settings);
    } catch (error) {
      throw new ApiError(0, 'jupyter_unreachable', `JupyterLab's server did not answer: ${error}`,
        'check that jupyter lab is still running');
    }
    const text = await response.text();
    let body: any = null;
    try {
      body = text && !response.headers.get('Content-Type')?.startsWith('text/html')
        ? JSON.parse(text) : null;
    } catch {
      body = null;
    }
    if (!response.ok) {
      if (response.status === 404 && body === null && path === 'config') {
        throw new ApiError(404, 'extension_missing', EXTENSION_MISSING);
      }
      throw new ApiError(
        response.status,
        body?.code ?? `http_${response.status}`,
        messageOf(body) || `${response.status} ${response.statusText}`,
        body?.hint ?? '',
        body?.details ?? null
      );
    }
    return { text, body };
  }

  config(): Promise<ServerInfo> {
    return this.request('config');
  }

  async services(): Promise<ServiceSummary[]> {
    return (await this.request<Answer<'ServicePage'>>('api/services')).services;
  }

  async service(name: string): Promise<Service> {
    const found = await this.request<Answer<'ServiceDetail'>>(
      `api/services/${encodeURIComponent(name)}`);
    return found as Service; // the contract leaves each release's input schema open
  }

  async release(id: string): Promise<Release> {
    const found = await this.request<Answer<'ReleaseDetail'>>(
      `api/releases/${encodeURIComponent(id)}`);
    return found as Release;
  }

  async events(after: number, service = '', limit = 200): Promise<GpEvent[]> {
    const query = new URLSearchParams({ after: String(after), limit: String(limit) });
    if (service) {
      query.set('service', service);
    }
    return (await this.request<Answer<'EventList'>>(`api/events?${query}`)).events;
  }

  /** The governed promotion, as the SDK asks for it: a deployment, or a promotion waiting
   * for approval. */
  promote(releaseId: string, environment: string): Promise<unknown> {
    const body: Body<'DeployRequest'> = { environment };
    return this.post(`api/releases/${encodeURIComponent(releaseId)}/promotions`, body);
  }

  rollback(service: string, environment: string): Promise<unknown> {
    const body: Body<'RollbackRequest'> = {};
    return this.post(`${envPath(service, environment)}/rollback`, body);
  }

  approve(
    releaseId: string,
    environment: string,
    decision: NonNullable<Body<'DecisionRequest'>['decision']>,
    comment: string
  ): Promise<unknown> {
    const body: Body<'DecisionRequest'> = { environment, decision, comment };
    return this.post(`api/releases/${encodeURIComponent(releaseId)}/approvals`, body);
  }

  /** The latest progressive rollout of `service` in `environment` (canary, shadow, ...). */
  progression(service: string, environment: string): Promise<Progression> {
    return this.request(`${envPath(service, environment)}/rollout`);
  }

  /** pause, resume, promote (skip the remaining steps) or abort that rollout: the
   * progression after it. */
  rolloutAction(service: string, environment: string, action: RolloutAction, comment = '')
    : Promise<Progression> {
    const body: Body<'ProgressionAction'> = { comment };
    return this.post(`${envPath(service, environment)}/rollout/${action}`, body);
  }

  /** Where a live model's drift stands (GET .../drift), or null when this server does not
   * watch drift (404). */
  drift(service: string, environment: string): Promise<DriftStatus | null> {
    return this.optional(`${envPath(service, environment)}/drift`);
  }

  /** The platform's figures (GET /api/v1/figures), or null when this server publishes
   * none (404). */
  figures(): Promise<PlatformFigures | null> {
    return this.optional('api/figures');
  }

  /** A window's drift report: a self-contained HTML page (no scripts), through the proxy. */
  driftReport(service: string, environment: string, window: number): Promise<string> {
    return this.text(`${envPath(service, environment)}/drift/report?window=${window}`);
  }

  /**
   * The server's event stream through the Jupyter proxy (GET /api/v1/events/stream):
   * `after` resumes after that chain position; without it, from now on. The browser's
   * EventSource reconnects by itself after a dropped connection, sending Last-Event-ID.
   */
  eventStream(after: number | null = null): EventSource {
    const query = new URLSearchParams();
    if (after !== null) {
      query.set('after', String(after));
    }
    if (this.settings.token) {
      query.set('token', this.settings.token); // EventSource cannot send headers
    }
    const base = URLExt.join(this.settings.baseUrl, 'goldenpath', 'api', 'events', 'stream');
    return new EventSource(query.toString() ? `${base}?${query}` : base, {
      withCredentials: true
    });
  }

  async logs(service: string, environment: string, tail = 200): Promise<string[]> {
    return (
      await this.request<Answer<'LogLines'>>(`${envPath(service, environment)}/logs?tail=${tail}`)
    ).lines;
  }

  /** Environment names in promotion order, or null when the server does not publish them. */
  async environments(): Promise<string[] | null> {
    const found = await this.optional<Answer<'EnvironmentList'>>('api/environments');
    return found ? found.environments.map(e => e.name) : null;
  }

  /** Promotions (e.g. waiting for approval); [] when the server has no promotions API. */
  async promotions(status = '', service = ''): Promise<Promotion[]> {
    const query = new URLSearchParams();
    if (status) {
      query.set('status', status);
    }
    if (service) {
      query.set('service', service);
    }
    const found = await this.optional<Answer<'PromotionList'>>(`api/promotions?${query}`);
    return found?.promotions ?? [];
  }

  /** The caller's roles, or null when this server has no roles API (404). */
  async me(): Promise<Me | null> {
    try {
      const me = await this.request<Answer<'Me'>>('api/me');
      return me && typeof me.roles === 'object' ? me : null;
    } catch (error) {
      if (error instanceof ApiError && error.status === 404) {
        return null;
      }
      throw error;
    }
  }

  predict(service: string, environment: string, body: unknown): Promise<{ predictions: unknown }> {
    return this.post(
      `predict/${encodeURIComponent(service)}/${encodeURIComponent(environment)}`,
      body
    );
  }

  /** GET an API that older servers lack: null on 404. */
  private async optional<T>(path: string): Promise<T | null> {
    try {
      return await this.request<T>(path);
    } catch (error) {
      if (error instanceof ApiError && error.status === 404) {
        return null;
      }
      throw error;
    }
  }

  private post<T>(path: string, body: unknown): Promise<T> {
    return this.request(path, { method: 'POST', body: JSON.stringify(body) });
  }
}

/** A request body or an answer exactly as the contract (docs/openapi.json) defines it. */
type Body<Name extends keyof components['schemas']> = components['schemas'][Name];
type Answer<Name extends keyof components['schemas']> = components['schemas'][Name];

function envPath(service: string, environment: string): string {
  return `api/services/${encodeURIComponent(service)}/environments/${encodeURIComponent(environment)}`;
}
